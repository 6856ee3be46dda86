/*
 * ringcast.pml -- Promela model of the ringcast ring protocol:
 * publish / ack / sleep-wake / evict, one publisher, two subscribers; and,
 * with -DJOIN, of the join / leave / death handshake through shared memory
 * (native/src/core/rc_join.c; at the end of this file).
 *
 * Source of truth: native/src/core/ringcast.c (C core), native/binding/addon.cc
 * (which C calls make one JS-visible operation), src/publisher.ts and
 * src/subscriber.ts (the wait loops), as of commit a7628a0. Barrier labels
 * [P1]..[P7], [S1]..[S6], [S2b] are the ones in ringcast.c and
 * docs/memory-ordering.md; every model step that stands for one of them
 * says so. See model/README.md.
 *
 * Memory model. Promela interleaves whole statements: sequential
 * consistency. That is what the C code guarantees where it matters: both
 * sleep/wake handshakes are store->load patterns ordered by full fences
 * ([P3]/[S5], [P5]/[S2b]), and every other pairing is release/acquire on
 * the very field that carries the information (message passing), whose
 * observable outcomes are the SC ones. Each statement below touches at most
 * one shared variable; d_step blocks add only private bookkeeping of the
 * same process, or ghost variables read by the properties, so no atomicity
 * is invented.
 *
 * Units. A position counts records, not bytes: every message is one
 * record, the ring holds CAP records, no pads. Positions stay small because
 * the publisher writes MSGS messages in all; data[p % CAP] holds the
 * position of the record last written there, so "overwritten" is decidable
 * without wrap-around arithmetic.
 *
 * Configuration (spin -D...):
 *   POLICY_DROP   drop: never wait, evict whoever would be overwritten
 *   MAX_LAG=n     block with maxLagBytes: evict instead of waiting for a
 *                 subscriber n records behind (n < CAP)
 *   EVICT_AFTER   block with evictAfterMs: while the publisher sleeps for
 *                 room its timer may fire at any moment and run
 *                 rc_pub_evict_blocking
 *   HEARTBEAT     rc_pub_check_heartbeats (an interval timer): between two
 *                 publisher operations, or while it sleeps, any counted
 *                 slot may be evicted (reason DEAD); then #wakeUp()
 *   CLOSE_EARLY   the application may close() while a publish waits
 *   STUCK         subscriber 1 may stop for good at any point (a hung
 *                 consumer: never reads or acks again, connection open)
 *   BUSY_POLL     the subscribers busy-poll before they sleep (spinMicros,
 *                 #spinForData): rc_sub_available's acquire load of head,
 *                 and back to reading when it moved
 *   (none)        block policy, waits forever
 *
 * Mutants (each must make a check fail; model/check.sh --mutants):
 *   BUG_NO_RECHECK      rc_sub_prepare_wait does not re-read head after [S5]
 *   BUG_IGNORE_ACK      flow control (rc_pub_refresh) ignores subscriber 1
 *   BUG_EVICT_NO_RING   rc_pub_evict does not ring the evicted doorbell
 *   BUG_PUB_NO_RECHECK  rc_pub_prepare_wait does not re-read acks after [P5]
 *   BUG_SAME_SEQ        rc_sub_prepare_wait does not bump sleep_seq
 *   BUG_INTENT_LATE     reserve() raises tail_intent after the write ([P1])
 *
 * Finding (model/README.md, "Findings"), fixed in the C core:
 *   STRICT_C               (c) without the "read everything, then saw the
 *                          close" escape
 *   BUG_ECLOSED_SKIPS_SLOT the old begin_read, which returned RC_ECLOSED
 *                          without re-checking the slot: STRICT_C fails
 *                          (an eviction just before close() is missed)
 */

#define NSUB 2
#ifndef CAP
#define CAP 2              /* capacity in records                          */
#endif
#ifndef MSGS
#define MSGS 4             /* messages the publisher writes in all         */
#endif
#ifndef AHEAD
#define AHEAD 1            /* tail_intent raised ahead of need: capacity/8 */
#endif
#define INF 255            /* UINT64_MAX                                   */
#define NONE 255           /* a ring slot never written                    */

#ifdef MAX_LAG
#define LAG MAX_LAG        /* pub->lag_bound                               */
#define EVICT_LAGGARDS 1   /* pub->evict_laggards                          */
#else
#define LAG CAP
#ifdef POLICY_DROP
#define EVICT_LAGGARDS 1
#else
#define EVICT_LAGGARDS 0
#endif
#endif

/* rc_slot_state as the subscriber sees it. ACTIVE stands for ACTIVE and
 * LAGGING alike: every decision in the code treats them the same
 * (slot_counts(), check_slot()); set_lagging() only switches between them. */
#define ACTIVE  1
#define EVICTED 3

/* ---- ring: written by the publisher only (subscribers map it read-only) - */
byte head;                  /* desc->head                                  */
byte tail_intent;           /* desc->tail_intent                           */
bool closed;                /* desc->publisher_state == RC_PUB_CLOSED      */
bool pub_waiting;           /* desc->publisher_waiting != 0                */
byte slot_state[NSUB];      /* slot mirror ->state                         */
byte data[CAP];             /* data area: the position each slot holds     */

/* ---- ack pages: each written by its own subscriber only ----------------- */
byte ack[NSUB];             /* ack_page->ack                               */
bool sleeping[NSUB];        /* ack_page->sleeping                          */

/* sleep_seq and wait_id are 32-bit counters compared for equality only.
 * Their values are abstracted to the one fact the code uses ("ring at most
 * once per sleep_seq / wait_id"):
 *   seq_rung[i]  <=> ack_page[i]->sleep_seq == pub->slots[i].last_rung_sleep_seq
 *   wait_rung[i] <=> desc->publisher_waiting == sub[i]->last_rung_wait_id
 * A bump yields a value never seen before (the 2^32 wrap is ignored, as
 * docs/memory-ordering.md says). */
bool seq_rung[NSUB];
bool wait_rung[NSUB];

/* ---- doorbells: eventfds; the FdWatcher drains the counter -------------- */
bool sub_bell[NSUB];        /* publisher -> subscriber i: readable         */
bool pub_bell[NSUB];        /* subscriber i -> publisher ("wake fd", one per
                             * subscriber): readable                       */

/* ---- ghosts: read by the properties only -------------------------------- */
byte pos[NSUB];             /* sub->pos (== pending == acked when copying) */
bool observed[NSUB];        /* the subscriber got EEVICTED or ELAPPED      */
bool ended[NSUB];           /* the subscriber got ECLOSED (end of stream)  */
bool corrupt[NSUB];         /* it got ECORRUPT: an honest publisher never
                             * causes that (an overwrite must read as lapped) */
bool dead[NSUB];            /* STUCK: it stopped for good                  */
bool sub_asleep[NSUB];      /* blocked on its doorbell                     */
bool pub_asleep;            /* blocked on its doorbell                     */
bool pub_over;              /* the publisher's run ended (all written, or closed) */

#define evicted(i)  (slot_state[i] == EVICTED)

/* Can anything evict? If not (plain block), slot_state never changes and the
 * subscriber's reads of it (check_slot) are left out: reading a constant
 * only adds interleavings, no behaviour. */
#if defined(POLICY_DROP) || defined(MAX_LAG) || defined(EVICT_AFTER) || defined(HEARTBEAT)
#define CAN_EVICT 1
#endif

/* =========================================================================
 * publisher
 * ========================================================================= */

#ifdef BUG_IGNORE_ACK
#define FLOW_COUNTS(i) (counted[i] && i == 0)
#else
#define FLOW_COUNTS(i) counted[i]
#endif

/* One slot of rc_pub_refresh: [P7] acquire load of the (hostile) ack.
 * Honest subscribers never break the rules, so the PROTOCOL eviction is an
 * assertion here; set_lagging() is not modelled (ACTIVE == LAGGING). */
inline refresh_slot(i) {
	if
	:: FLOW_COUNTS(i) ->
		d_step {
			a = ack[i];                               /* [P7] acquire */
			assert(a >= acked_p[i] && a <= head);     /* else PROTOCOL */
			acked_p[i] = a;
			if :: a < slowest -> slowest = a :: else fi;
			a = 0
		}
	:: else
	fi
}

inline refresh() {                                    /* rc_pub_refresh */
	slowest = INF;
	refresh_slot(0);
	refresh_slot(1);
	d_step { limit = (slowest == INF -> INF : slowest + LAG); slowest = 0 }
}

/* rc_pub_evict: private state; lost range (relaxed); state (release);
 * doorbell. */
inline evict(i) {
	d_step { counted[i] = false; limit = 0; slot_state[i] = EVICTED }  /* [P4] */
#ifndef BUG_EVICT_NO_RING
	sub_bell[i] = true                     /* ring_doorbell, unconditional */
#endif
}

/* evict_laggards(end): every counted slot with acked + lag_bound < end. */
inline evict_laggards() {
	if :: counted[0] && acked_p[0] + LAG < e -> evict(0) :: else fi;
	if :: counted[1] && acked_p[1] + LAG < e -> evict(1) :: else fi;
	refresh()
}

/* rc_pub_evict_blocking(len): the evictAfterMs timer fired. */
inline evict_blocking() {
	e = tail + 1;
	refresh();
	if :: e > limit -> evict_laggards() :: else fi
}

/* rc_pub_check_heartbeats: some counted slot's heartbeat stood still. */
#ifdef HEARTBEAT_ONE
#define HB_CAN counted[1]
#else
#define HB_CAN (counted[0] || counted[1])
#endif
inline heartbeat_evict() {
	if
#ifndef HEARTBEAT_ONE
	:: counted[0] -> evict(0)
#endif
	:: counted[1] -> evict(1)
	fi
}

/* reserve(need) for one record, flow control part. Sets ok. */
inline reserve() {
	d_step { e = tail + 1; ok = true }
	if
	:: e > limit ->
		refresh();
		if
		:: e > limit ->
			if
			:: EVICT_LAGGARDS -> evict_laggards()
			:: else -> ok = false                  /* block: RC_EAGAIN */
			fi
		:: else
		fi
	:: else
	fi
}

/* reserve(), [P1]: tail_intent = min(limit, end + capacity/8), at least
 * end; relaxed store, then release fence, before the bytes it covers. */
inline raise_intent() {
	if
	:: e > tail_intent ->
		d_step {
			ni = (limit < e + AHEAD -> limit : e + AHEAD);
			if :: ni < e -> ni = e :: else fi;
			tail_intent = ni;                         /* [P1] */
			ni = 0
		}
	:: else
	fi
}

/* The record's bytes (pad, header, payload stores), one step. Property (a)
 * is checked in the same step: writing position q overwrites position
 * q - CAP, which every subscriber that is not evicted must have acked. */
inline write_record() {
	d_step {
		assert(evicted(0) || tail < ack[0] + CAP);
		assert(evicted(1) || tail < ack[1] + CAP);
		data[tail % CAP] = tail
	}
}

/* rc_pub_commit: [P2] head (release); [P3] full fence; then every counted
 * slot that sleeps, rung at most once per sleep_seq. */
inline ring_if_sleeping(i) {
	if
	:: counted[i] && sleeping[i] ->                 /* relaxed load */
		d_step {                                 /* load sleep_seq */
			doring = !seq_rung[i];
			seq_rung[i] = true              /* last_rung = seq */
		}
		if :: doring -> d_step { sub_bell[i] = true; doring = false } :: else fi
	:: else
	fi
}

inline commit() {
	if
	:: tail != head ->
		head = tail;                              /* [P2] release */
		/* [P3] rc_fence_full() */
		ring_if_sleeping(0);
		ring_if_sleeping(1)
	:: else
	fi
}

/* rc_pub_close: final commit; [P6] CLOSED (release); full fence; then the
 * doorbell of every counted slot, unconditionally. */
inline close() {
	commit();
	closed = true;                                        /* [P6] */
	if :: counted[0] -> sub_bell[0] = true :: else fi;
	if :: counted[1] -> sub_bell[1] = true :: else fi
}

proctype publisher()
{
	/* private state of struct rc_publisher */
	byte tail;              /* pub->tail                                   */
	byte limit;             /* pub->limit (0: attach forced a recompute)   */
	byte acked_p[NSUB];     /* pub->slots[i].acked                         */
	bool counted[NSUB];     /* slot_counts(&pub->slots[i])                 */
	byte written;           /* messages written                            */
	byte a, slowest, e, ni; /* scratch */
	bool ok, doring;

	d_step { counted[0] = true; counted[1] = true }

	do
	:: written < MSGS ->
#ifdef HEARTBEAT
		/* the heartbeat interval timer runs between two native calls */
		if
		:: heartbeat_evict()
		:: skip
		fi;
#endif
		/* offer()/offerBatch(): rc_pub_offer = reserve() + rc_pub_write */
		reserve();
		if
		:: d_step { ok -> ok = false } ->
#ifdef BUG_INTENT_LATE
			write_record();
			raise_intent();
#else
			raise_intent();
			write_record();
#endif
			d_step { tail++; written++; e = 0 }
			/* offerBatch: the next message in the same batch, or the
			 * commit that ends the batch */
			if
			:: written < MSGS
			:: true -> commit()
			fi
		:: else ->
			commit();          /* offerBatch commits what it wrote */
			/* #waitForRoom -> rc_pub_prepare_wait */
			d_step {
				pub_waiting = true;   /* publisher_waiting = ++wait_id */
				wait_rung[0] = false;
				wait_rung[1] = false;
				e = 0
			}
			/* [P5] rc_fence_full() */
#ifndef BUG_PUB_NO_RECHECK
			refresh();
			if
			:: tail + 1 <= limit ->
				pub_waiting = false;  /* rc_pub_end_wait; no sleep */
				goto next
			:: else
			fi;
#endif
			/* sleep on every subscriber's wake fd (#waitForRoom starts
			 * one FdWatcher per attached subscriber; each drains its fd
			 * before the callback; one or more may fire before the
			 * continuation stops them all) */
			d_step { pub_asleep = true }
			if
			:: d_step { pub_bell[0] -> pub_bell[0] = false; pub_asleep = false }
			:: d_step { pub_bell[1] -> pub_bell[1] = false; pub_asleep = false }
			:: d_step { pub_bell[0] && pub_bell[1] ->
				pub_bell[0] = false; pub_bell[1] = false; pub_asleep = false }
#ifdef EVICT_AFTER
			:: d_step { pub_asleep = false };     /* evictAfterMs timer */
			   evict_blocking()
#endif
#ifdef HEARTBEAT
			:: d_step { HB_CAN -> pub_asleep = false };  /* heartbeat timer */
			   heartbeat_evict()          /* then #wakeUp()     */
#endif
#ifdef CLOSE_EARLY
			:: d_step { pub_asleep = false };     /* close() meanwhile  */
			   close();       /* no rc_pub_end_wait once closing */
			   goto quit
#endif
			fi;
			pub_waiting = false                   /* rc_pub_end_wait */
		fi;
next:		skip
	:: else -> break
	od;
#ifdef HEARTBEAT
	if
	:: heartbeat_evict()       /* the interval timer, after the last publish */
	:: skip
	fi;
#endif
	/* the application closes the bus, or keeps it open and idle */
	if
	:: close()
	:: skip
	fi;
quit:	pub_over = true
}

/* =========================================================================
 * subscriber: recv() = rc_sub_read until nothing is ready, then
 * #waitReadable (rc_sub_prepare_wait, sleep, rc_sub_end_wait)
 * ========================================================================= */

/* lapped_since(pos): [S3] acquire fence, then tail_intent. */
#define LAPPED  (tail_intent > p + CAP)

/* RC_ELAPPED: report (observe) the loss and stop. The intent never passes
 * the flow-control limit, so only an evicted subscriber can be lapped. */
#define ELAPPED d_step { LAPPED -> assert(evicted(me)); observed[me] = true }; goto quit

proctype subscriber(byte me)
{
	byte p;                 /* sub->pos (== pending == acked: copying reads) */
	byte h, at;
	bool torn, doring;

	do
	:: true ->
#ifdef STUCK
		if
		:: me == 1 -> dead[me] = true; goto quit
		:: true
		fi;
#endif
		/* ---- rc_sub_read: begin_read ---- */
#ifdef CAN_EVICT
		if
		:: evicted(me) ->                         /* check_slot [S4] */
			observed[me] = true; goto quit     /* RC_EEVICTED      */
		:: else
		fi;
#endif
		h = head;                                 /* [S1] acquire      */
		if
		:: h == p ->
			if
			:: closed ->                       /* [S6] acquire      */
				if
#ifdef BUG_ECLOSED_SKIPS_SLOT
				:: d_step { head == p -> ended[me] = true };
				   goto quit                /* RC_ECLOSED        */
#else
				/* check_slot again once CLOSED was acquired
				 * ([P4] precedes [P6] in the publisher) */
				:: head == p ->
					if
					:: d_step { evicted(me) -> observed[me] = true }
					:: d_step { !evicted(me) -> ended[me] = true }
					fi;
					goto quit
#endif
				:: else -> goto nothing
				fi
			:: else -> goto nothing            /* 0: nothing ready  */
			fi
		:: h > p + CAP ->                   /* bad_record()      */
			if
			:: ELAPPED
			:: else -> d_step { corrupt[me] = true; assert(!corrupt[me]) }  /* ECORRUPT */
			fi
		:: else
		fi;
		if
		:: ELAPPED                                /* [S3]              */
		:: else
		fi;
		/* ---- copy records pos .. h-1 (or fewer: out_cap) ---- */
		d_step { at = p; torn = false }
		do
		:: at < h ->
			if
			:: d_step { data[at % CAP] == at -> at++ }    /* intact  */
			:: data[at % CAP] != at ->
				/* overwritten meanwhile. Either its header fails
				 * validation: next_record -> bad_record, which is
				 * returned if it is the first record (ELAPPED if lapped,
				 * else ECORRUPT), else the loop stops there ("the good
				 * ones first") and the re-check below decides; or the
				 * header passes and the payload is copied torn. */
				if
				:: at == p ->
					if
					:: ELAPPED
					:: else -> d_step { corrupt[me] = true; assert(!corrupt[me]) }
					fi
				:: at != p -> break
				:: d_step { torn = true; at++ }
				fi
			fi;
			if
			:: true
			:: at < h -> break                 /* out_cap reached   */
			fi
		:: else -> break
		od;
		/* seqlock re-check [S3]; ELAPPED discards the copy */
		if
		:: ELAPPED
		:: else
		fi;
		/* (a') nothing delivered was overwritten while it was copied */
		assert(!torn);
		/* ---- store_ack(at) ---- */
		d_step { p = at; pos[me] = at; ack[me] = at; h = 0; at = 0 }    /* [S2] release */
		/* [S2b] rc_fence_full() */
		d_step {                                  /* publisher_waiting */
			doring = pub_waiting && !wait_rung[me];
			if :: doring -> wait_rung[me] = true :: else fi
		}
		if :: doring -> d_step { pub_bell[me] = true; doring = false } :: else fi;
		goto next;

nothing:
#ifdef BUSY_POLL
		/* #spinForData: rc_sub_available() until spinMicros ran out; each
		 * look is one acquire load of head ([S1]'s pairing). Data: read
		 * again (tryRecv, or #receive's loop) without announcing a sleep.
		 * The spin may also run out just before data arrives. */
		if
		:: head != p -> goto next
		:: true
		fi;
#endif
		/* ---- #waitReadable: rc_sub_prepare_wait ---- */
		h = 0;
		/* sleep_seq++ and sleeping = 1: two relaxed stores, one step.
		 * The publisher loads sleeping first and sleep_seq second, so the
		 * outcomes it can see are the same as with two steps (old/old,
		 * old/new, new/new); [S5]/[P3] order them for the re-check. */
		d_step {
#ifndef BUG_SAME_SEQ
			seq_rung[me] = false;             /* sleep_seq++       */
#endif
			sleeping[me] = true
		}
		/* [S5] rc_fence_full() */
#ifndef BUG_NO_RECHECK
		if
		:: head != p -> sleeping[me] = false; goto next
		:: else
		fi;
#endif
		if
		:: closed -> sleeping[me] = false; goto next
		:: else
		fi;
#ifdef CAN_EVICT
		if
		:: evicted(me) -> sleeping[me] = false; goto next  /* check_slot */
		:: d_step { !evicted(me) -> sub_asleep[me] = true }  /* will sleep */
		fi;
#else
		d_step { sub_asleep[me] = true };
#endif
		/* sleep on the own doorbell; the FdWatcher drains it */
end_sleep:	d_step { sub_bell[me] -> sub_bell[me] = false; sub_asleep[me] = false };
		sleeping[me] = false;                     /* rc_sub_end_wait   */
next:		skip
	od;
quit:	skip
}

/* =========================================================================
 * (b) no lost wake-up: once nothing can move any more, nobody sleeps on a
 * doorbell with a reason to be awake.
 * ========================================================================= */

#ifdef STRICT_C
#define SEEN(i) (observed[i] || dead[i])
#else
#define SEEN(i) (observed[i] || dead[i] || ended[i])
#endif

#define NOT_STRANDED(i) \
	(dead[i] || !sub_asleep[i] || (head == pos[i] && !closed && !evicted(i)))

#if !defined(NO_MONITOR) && !defined(JOIN)
active
#endif
proctype quiescence()
{
	timeout ->
	/* subscribers first: a stranded subscriber also strands a publisher
	 * that waits for its ack, and the mutants' checks name the first
	 * assertion that fails */
	assert(NOT_STRANDED(0));   /* sleeps with data, after close or evicted  */
	assert(NOT_STRANDED(1));
	assert(!pub_asleep);       /* the publisher sleeps though there is room */
	/* (c) at the end: an evicted subscriber saw it (or is dead, or read
	 * everything and saw the close) */
	assert(!evicted(0) || SEEN(0));
	assert(!evicted(1) || SEEN(1))
}

#ifndef JOIN
init
{
	d_step {
		slot_state[0] = ACTIVE; slot_state[1] = ACTIVE;
		seq_rung[0] = true; seq_rung[1] = true;   /* attach: last_rung = sleep_seq */
		data[0] = NONE; data[1] = NONE;
#if CAP > 2
		data[2] = NONE;
#endif
#if CAP > 3
		data[3] = NONE;
#endif
	}
	atomic {
		run publisher();
		run subscriber(0);
		run subscriber(1)
	}
}
#endif

/* =========================================================================
 * LTL, checked with pan -a -f (weak fairness)
 * ========================================================================= */

/* (c) every eviction is observed by the evicted subscriber: it gets
 * EEVICTED or ELAPPED, unless it is dead (STUCK) or it had already read
 * everything and the publisher closed (see STRICT_C and model/README.md). */
ltl evict_seen {
	[] ((evicted(0) -> <> SEEN(0)) && (evicted(1) -> <> SEEN(1)))
}

/* Denial of service: the publisher always gets through its messages (or is
 * closed), even with a subscriber that hangs (STUCK). Holds for every policy
 * that evicts; plain block waits for a hung subscriber forever, by design. */
ltl pub_finishes { <> pub_over }

/* (b) as liveness: a subscriber asleep with unread data is woken, and so is
 * a publisher asleep for room. */
ltl wake {
	[] (((sub_asleep[0] && head != pos[0]) -> <> !sub_asleep[0]) &&
	    ((sub_asleep[1] && head != pos[1]) -> <> !sub_asleep[1]) &&
	    (pub_asleep -> <> !pub_asleep))
}

#ifdef JOIN
/* =========================================================================
 * join / leave / death through shared memory: native/src/core/rc_join.c,
 * the one implementation behind the ivshmem and Xen providers. One slot,
 * one subscriber (a guest or a receiver domain), the publisher's serve loop.
 * A separate model (spin -DJOIN): the ring protocol above starts once a
 * slot is ACTIVE, which is where this one ends, so the two are not run
 * together (their product would only multiply states).
 *
 *   (default)  ivshmem: no liveness byte; a death reaches the publisher as
 *              a notice (the subscriber's peer left the ivshmem server,
 *              which closes its eventfd)
 *   ALIVE      Xen: provider.alive is the `mapped` byte the subscriber's
 *              kernel clears when its mapping goes (its death), with a ring
 *              of the publisher's event channel; the publisher may map the
 *              dead subscriber's page again (its grant lives on in
 *              XenStore): rc_join_slot_reset, requests seen start from 0
 *   HOSTILE    the subscriber writes anything: any request number (also
 *              backwards, also 0), any peer id, any `mapped`
 *
 * Properties (assertions; the monitor runs at quiescence):
 *   (j1) an ACCEPTED answer agrees with the slot mirror and the ack page
 *        (rc_join_attach's check); an honest request is accepted or, for a
 *        leave, answered LEFT
 *   (j2) no replay: every accepted request number is above every one
 *        accepted before
 *   (j3) ALIVE: a join request is never served if its subscriber was
 *        already dead when the publisher acquired it
 *   (j4) a subscriber that asked to leave before it died is freed as left,
 *        never reported dead
 *   (j5) a doorbell the provider closed at a death is never rung
 *   (j6) at quiescence: no honest request waits unanswered; a dead
 *        subscriber's slot is FREE; a live one's slot is ACTIVE with its
 *        generation exactly while it holds it
 *
 * Mutants (model/check.sh --mutants):
 *   BUG_ANSWER_EARLY    the answer's request is stored before its verdict
 *                       and generation ([V3] not last)
 *   BUG_NO_ORDER        no high-water mark: a request that steps back is
 *                       served again
 *   BUG_SERVE_UNMAPPED  a join beside a clear `mapped` byte is served
 *   BUG_MAPPED_FIRST    `mapped` read before the acquire of join_request
 *                       ([V2a] after the liveness read)
 *   BUG_DEATH_FIRST     rc_join_death frees the slot DEAD without serving
 *                       the leave asked for before
 *   BUG_RING_DEAD       the eviction at a death rings the closed doorbell
 *   BUG_ALIVE_REREAD    `mapped` read again at the accept to decide whether
 *                       a clear byte later means death (the code before
 *                       this model: a death in between went unseen)
 * ========================================================================= */

#define J_LEAVE  0          /* join_peer_id RC_JOIN_LEAVE                   */
#define J_GOOD   1          /* the slot's own peer (ivshmem peer, Xen domid) */
#define J_BAD    2          /* anyone else                                  */
#define V_ACCEPTED 1
#define V_BAD_PEER 2
#define V_BAD_ORDER 3
#define V_LEFT   5
#define S_FREE   0
#define S_ACTIVE 1
#ifndef ASKS
#define ASKS 3              /* requests the subscriber writes at most       */
#endif

/* ack page line 3: subscriber -> publisher, hostile input */
byte j_request;             /* join_request, release [V2]                   */
byte j_peer;                /* join_peer_id                                 */
bool j_mapped;              /* mapped (Xen)                                 */
/* ack page line 0 + ack: rewritten by the publisher at an accepted join    */
byte p_generation;
/* the slot's join answer: publisher -> subscriber                          */
byte a_request;             /* release, last [V3]                           */
byte a_verdict;
byte a_generation;
/* the slot mirror                                                          */
byte m_state;               /* release [P4]                                 */
byte m_generation;
/* wake-ups: the subscriber rings the publisher after its request (the
 * publisher looks at the slot on every wake-up); the provider's notice
 * of a death                                                               */
bool host_bell;
bool gone_notice;

/* ghosts */
bool g_dead;                /* the subscriber died (process or VM gone)      */
bool g_door_closed;         /* its doorbell was closed with the notice       */
bool g_left_asked;          /* its last request was a leave                  */
bool g_holds;               /* it was answered ACCEPTED and has not left     */
byte g_generation;          /* the generation it was answered                */
byte g_waiting;             /* the request it waits for (0: none)            */
byte g_accepted;            /* the highest request number accepted so far   */

inline j_answer(r, v, g) {
#ifdef BUG_ANSWER_EARLY
	a_request = r;
	a_verdict = v;
	a_generation = g
#else
	a_verdict = v;              /* relaxed */
	a_generation = g;           /* relaxed */
	a_request = r               /* [V3] release */
#endif
}

/* Evicted DEAD if counted, then FREE; the doorbell forgotten first. */
inline j_free_dead() {
	if
	:: held ->
		assert(!g_left_asked);                   /* (j4) */
#ifndef BUG_RING_DEAD
		door_valid = false;                      /* doorbell_fd = -1 */
#endif
		/* rc_pub_evict rings the slot's doorbell if it has one */
		if :: door_valid -> assert(!g_door_closed) :: else fi;
		m_state = S_FREE;                        /* [P4] release */
		held = false
	:: else
	fi;
	d_step { alive_at_join = false; door_valid = false }   /* unbind */
}

/* rc_join_serve */
inline j_serve() {
#ifdef BUG_MAPPED_FIRST
	alive = j_mapped;
	d_step { req = j_request; dead_at_read = g_dead }
#else
	d_step { req = j_request; dead_at_read = g_dead }   /* [V2a] acquire */
	alive = j_mapped;
#endif
#ifndef ALIVE
	alive = true;
#endif
	peer = j_peer;                           /* relaxed, after [V2a] */
	if
#ifdef BUG_SERVE_UNMAPPED
	:: !alive && (req == 0 || req == last_seen) ->
#else
	:: !alive && !(req != 0 && req != last_seen && peer == J_LEAVE) ->
#endif
		if :: req != 0 -> last_seen = req :: else fi;
		if :: held && alive_at_join -> j_free_dead() :: else fi
	:: else ->
		if
		:: req == 0 || req == last_seen -> skip   /* nothing new */
		:: else ->
			last_seen = req;
			if
#ifndef BUG_NO_ORDER
			:: req <= highest -> j_answer(req, V_BAD_ORDER, 0)
#endif
			:: else ->
				if :: req > highest -> highest = req :: else fi;
				if
				:: peer == J_LEAVE ->
					if :: held -> m_state = S_FREE; held = false :: else fi;
					j_answer(req, V_LEFT, 0);
					d_step { alive_at_join = false; door_valid = false }
				:: peer != J_LEAVE && (peer != J_GOOD || peer_gone) -> j_answer(req, V_BAD_PEER, 0)
				:: peer == J_GOOD && !peer_gone ->
					/* accept: a rejoin detaches first */
					if :: held -> m_state = S_FREE; held = false :: else fi;
					d_step {
						assert(req > g_accepted);        /* (j2) */
#ifdef ALIVE
						assert(!dead_at_read);           /* (j3) */
#endif
						g_accepted = req;
						gen = m_generation + 1
					}
					p_generation = gen;              /* ack page line 0 */
					m_generation = gen;              /* relaxed */
					m_state = S_ACTIVE;              /* [P4] release */
					/* alive when it asked: a clear byte from now on
					 * is its death (not a fresh read, which a death
					 * since then would hide for good) */
#ifdef BUG_ALIVE_REREAD
					d_step { held = true; door_valid = true };
					alive_at_join = j_mapped;
#else
					d_step { held = true; door_valid = true; alive_at_join = true };
#endif
					j_answer(req, V_ACCEPTED, gen)
				fi
			fi
		fi
	fi;
	d_step { req = 0; peer = 0; alive = false; dead_at_read = false }
}

/* rc_join_death: a leave asked for before comes first */
inline j_death() {
	req = j_request;                         /* [V2a] acquire */
	peer = j_peer;
#ifndef BUG_DEATH_FIRST
	if
	:: req != 0 && req != last_seen && peer == J_LEAVE -> j_serve()
	:: else
	fi;
#endif
	j_free_dead();
	d_step { req = 0; peer = 0 }
}

proctype j_publisher()
{
	byte last_seen, highest, req, peer, gen;
	bool alive, alive_at_join, held, door_valid;
	bool peer_gone;             /* ivshmem: the server no longer knows it   */
	bool dead_at_read;          /* ghost: it was dead at the acquire        */
#ifdef ALIVE
	bool remapped;
#endif
end_serve:
	do
	:: d_step { host_bell -> host_bell = false }; j_serve()
	:: d_step { gone_notice -> gone_notice = false; g_door_closed = true; peer_gone = true }; j_death()
#ifdef ALIVE
	/* map_sub_ack: the page of a dead subscriber mapped again */
	:: d_step { g_dead && !remapped -> remapped = true; last_seen = 0; highest = 0 }
#endif
	od
}

/* The subscriber dies: its kernel clears `mapped` (Xen) and rings the
 * publisher; the provider learns of it (ivshmem: always, the server sees
 * the peer go; Xen: maybe, through XenStore or the heartbeat). */
inline j_die() {
	d_step { g_dead = true; g_waiting = 0; j_mapped = false };
#ifdef ALIVE
	host_bell = true;
	if :: gone_notice = true :: skip fi;
#else
	gone_notice = true;
#endif
	goto done
}

/* rc_join_ask: above the page's last request and the last one answered. */
inline j_ask(who) {
	d_step {
		r = a_request;                   /* [V4] acquire */
		if :: j_request > r -> r = j_request :: else fi;
		r++;
		g_left_asked = (who == J_LEAVE)
	}
#ifdef ALIVE
	j_mapped = true;
#endif
	j_peer = who;
	j_request = r;                           /* [V2] release */
	d_step { g_waiting = r; host_bell = true }
}

proctype j_subscriber()
{
	byte r, v, g, asks;
	do
	:: asks < ASKS ->
		asks++;
		if
		:: !g_holds -> j_ask(J_GOOD)
		:: g_holds -> j_ask(J_LEAVE)
		:: j_die()
		fi;
		/* wait for the answer (the re-ring of the C code is for rings
		 * lost before the publisher watched: none are lost here), or die */
		if
		:: d_step { a_request == r -> v = a_verdict; g = a_generation; g_waiting = 0 }
		:: !g_left_asked -> j_die()
		:: g_left_asked -> d_step { g_waiting = 0; g_holds = false }; goto next /* ivshmem: no wait */
		fi;
		if
		:: !g_left_asked ->
			/* (j1) the honest join is accepted, and rc_join_attach's
			 * check holds: answer, ack page and mirror agree */
			assert(v == V_ACCEPTED);
			assert(g == p_generation && g == m_generation && m_state == S_ACTIVE);
			d_step { g_holds = true; g_generation = g }
		:: else ->
			assert(v == V_LEFT);
			g_holds = false
		fi;
next:		skip;
		d_step { v = 0; g = 0 }
	:: else -> break
	od;
	/* it may still die after its last request */
	if
	:: j_die()
	:: skip
	fi;
done:	skip
}

/* A hostile subscriber: writes anything, in any order, rings. */
proctype j_hostile()
{
	byte n;
	do
	:: n < ASKS ->
		n++;
		if :: j_peer = J_LEAVE :: j_peer = J_GOOD :: j_peer = J_BAD fi;
		if :: j_mapped = true :: j_mapped = false fi;
		if :: j_request = 0 :: j_request = 1 :: j_request = 2 :: j_request = 3 fi;
		host_bell = true
	:: else -> break
	od
}

active proctype j_quiescence()
{
	timeout ->
#ifndef HOSTILE
	/* (j6) */
	assert(g_dead || g_waiting == 0);                /* no request stranded */
	assert(!g_dead || m_state == S_FREE);            /* a death frees */
	assert(g_dead || g_holds == (m_state == S_ACTIVE));
	assert(g_dead || !g_holds || m_generation == g_generation)
#else
	skip
#endif
}

init
{
	atomic {
		run j_publisher();
#ifdef HOSTILE
		run j_hostile()
#else
		run j_subscriber()
#endif
	}
}
#endif /* JOIN */
