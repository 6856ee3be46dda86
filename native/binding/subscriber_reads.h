// SPDX-License-Identifier: MIT
//
// What every subscriber object of the binding shares, whoever mapped its
// memory: the socket Subscriber (addon.cc: memfds received over the control
// socket) and the ivshmem guest (ivshmem.cc: devices or files). The reads are
// the same core calls on the same rc_subscriber; only the region provider
// differs.
//
// Lifetime: the ring mapping is shared by its owner and by the ArrayBuffers
// handed to JS for zero-copy views (SharedMapping); it is unmapped when all
// are gone, so a view kept past destroy() stays valid memory.
#ifndef RINGCAST_SUBSCRIBER_READS_H
#define RINGCAST_SUBSCRIBER_READS_H

#include <napi.h>

#include "announcer.h" // Announcer: Announce handed to the doorbell's watcher
#include "bound_self.h" // BoundSelf: readSmall without napi_unwrap
#include "message_bytes.h" // MessageBytes: readMessage's target

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <sys/mman.h>
#include <vector>

extern "C" {
#include "rc_memfd.h"
#include "ringcast.h"
}

// The batch shape of read/poll, exported to JS as META_STRIDE and MAX_BATCH:
// meta[0] = count or status, then per entry offset, length, flags, seq.
constexpr int kMetaStride = 4;
constexpr uint32_t kMaxBatch = 4096;

// A mapping shared between its owner object and every ArrayBuffer that
// exposes it (ExposeMapping: one per `data` access). Each holds one of
// `refs`; the last Release() (owner's cleanup or an ArrayBuffer finalizer)
// unmaps it.
struct SharedMapping {
	rc_mapping map{};
	std::atomic<int> refs{1};

	void Release()
	{
		if (--refs == 0) {
			rc_unmap(&map);
			delete this;
		}
	}
};

inline Napi::ArrayBuffer ExposeMapping(Napi::Env env, SharedMapping *shared, size_t offset, size_t length)
{
	shared->refs++;
	return Napi::ArrayBuffer::New(
		env, static_cast<uint8_t *>(shared->map.addr) + offset, length,
		[](Napi::Env, void *, SharedMapping *m) { m->Release(); }, shared);
}

inline double *MetaArray(const Napi::Value &value, uint32_t *max_entries)
{
	Napi::Float64Array meta = value.As<Napi::Float64Array>();
	*max_entries = static_cast<uint32_t>((meta.ElementLength() - 1) / kMetaStride);
	if (*max_entries > kMaxBatch)
		*max_entries = kMaxBatch;
	return meta.Data();
}

// RC_EMESSAGE: meta[1] says how long the fragmented message is, which the
// caller is about to allocate, meta[2] its sequence number.
inline void AnnounceMessage(double *meta, const rc_subscriber *sub);

inline void FillMeta(double *meta, const rc_entry *entries, int count)
{
	meta[0] = count;
	for (int i = 0; i < count; i++) {
		double *m = meta + 1 + i * kMetaStride;
		m[0] = static_cast<double>(entries[i].offset);
		m[1] = entries[i].length;
		m[2] = entries[i].flags;
		m[3] = static_cast<double>(entries[i].seq);
	}
}

// Copies from this size on (read()'s batch buffers, poll()'s fragments that
// TypeScript copies to reassemble them, whole messages up to
// kLargeMessageFrom): glibc's malloc serves them with mmap until it has
// freed one, and trims freed memory above 128 KiB off the top of its heap.
// A subscriber that keeps handing out batches then takes a page fault per
// 4 KiB it copies: 0.5 to 4 faults per 16 KiB message, more than half its
// time (perf: clear_page_erms and exc_page_fault under the memcpy into the
// batch). glibc raises both limits by itself once a program frees an
// mmapped chunk of at most 32 MiB (DEFAULT_MMAP_THRESHOLD_MAX on 64 bits):
// to its size for the mmap threshold, twice that for trimming. PrimeMalloc
// does that once, with a chunk of kHeapServesBelow bytes, the largest that
// raises them, before the first such copy, so their memory is reused
// instead: the heap then serves every allocation below kHeapServesBelow and
// keeps up to twice that free at its top. It changes no setting a program
// made (glibc keeps explicit or environment settings fixed) and does what
// freeing any Buffer of that size does anyway.
constexpr uint64_t kPrimeFrom = 128 * 1024;
// With glibc's 16 bytes of chunk header, rounded to a page, a malloc of this
// size is a mapping of just under 32 MiB.
constexpr uint64_t kHeapServesBelow = (32u << 20) - (64u << 10);

inline void PrimeMalloc()
{
#ifdef __GLIBC__
	static std::once_flag once;
	std::call_once(once, [] {
		// volatile: a malloc/free pair the compiler can see through is elided.
		void *volatile chunk = malloc(kHeapServesBelow);
		free(chunk);
	});
#endif
}

inline void AnnounceMessage(double *meta, const rc_subscriber *sub)
{
	meta[0] = RC_EMESSAGE;
	meta[1] = static_cast<double>(sub->frag.message_length);
	meta[2] = static_cast<double>(sub->frag.message_seq);
	if (sub->frag.message_length >= kPrimeFrom)
		PrimeMalloc();
}

// A fragmented message of this length or more that goes into a Buffer of its
// own (recv(), for await, batches() without reuseBuffer) is copied with
// non-temporal stores: such a Buffer is memory not touched since an earlier
// message was collected, megabytes ago, and a plain copy into it first reads
// every destination line from memory (perf: 73% of the subscriber's time in
// memmove at 1 MiB, 2.5x the time of the same copy into poll()'s reused
// buffer). Below this the destination may still be in the cache.
constexpr uint64_t kStreamCopiesFrom = 1u << 20;

// A reused buffer (poll()'s, a lending iterator's) is streamed into from
// this length on: past the caches, where it no longer stays between two
// messages, a plain copy reads each destination line from memory before
// writing it, twice the memory traffic of the copy itself, on the
// subscriber's side of a copy that the publisher's side is making at the
// same time. poll() of 64 MiB messages (bench, 0.8 s runs): 6.2 to 6.7 ms
// of subscriber CPU per message with plain stores, the publisher then
// sleeping 24 times per message for room; 3.5 to 3.9 ms streamed, the
// publisher sleeping once. 16 MiB: 1.5 to 1.7 ms against 0.9 to 1.1 ms;
// 8 MiB: 0.50 to 0.55 ms against 0.43 ms. At 4 MiB the buffer stays in the
// last-level cache (32 MiB here) and plain stores were faster (0.19 to
// 0.23 ms against 0.24 to 0.25 ms). What the handler reads of a streamed
// message comes from memory, as most of one this long would anyway.
constexpr uint64_t kReusedStreamsFrom = 8u << 20;

// allocMessage(length) -> a Buffer for a fragmented message of `length`
// bytes (at least kLargeMessageFrom), in a mapping of its own that is kept
// for the next large message once the Buffer is collected.
//
// Which memory a message's Buffer gets decides what collecting it costs.
// A Buffer from V8's allocator (Buffer.allocUnsafe: malloc) that the program
// dropped is freed by a young-generation collection (scavenge), which V8
// runs whenever such memory made since the last one passes twice its
// semi-space (32 MiB), before the next allocation: a fraction of a
// millisecond with a small young generation. A Buffer over memory of our own
// (napi_create_external_buffer) is held by a weak handle that a scavenge
// treats as strong (only API wrapper objects may die there), so only a
// mark-compact frees it, and V8 starts one each time the ArrayBuffer memory
// made since the last passes 64 MiB. At 16 MiB that was a mark-compact per
// four messages, 60% of the subscriber's CPU on its main and helper threads
// (perf; --trace-gc-nvp: 6 ms of sweep_array_buffers and 8 ms of background
// marking each) against 15% for the copy. So messages below
// kLargeMessageFrom, which glibc's heap serves once PrimeMalloc raised its
// threshold, get Buffer.allocUnsafe: 3.7 -> 2.0 ms of subscriber CPU per
// 16 MiB message, 8 -> 0 to 2 mark-compacts per 32 of them
// (test/fixtures/large-collected.mjs).
//
// From kLargeMessageFrom on malloc maps every Buffer afresh, which the
// kernel zeroes and maps a page at a time as the fragments are copied in: a
// 64 MiB message took 16 406 page faults on the subscriber and most of its
// CPU time (55 ms of 60). A kept mapping is already there; such a message is
// at least half of V8's 64 MiB anyway, a mark-compact per one or two of them
// whatever memory it is in. (Transparent huge pages were tried: 32 faults,
// but the compaction behind them cost more than the faults did;
// MAP_POPULATE saves the faults but not the zeroing, and measured no
// faster.)
//
// How many to keep: their finalizers run after the mark-compact, all
// together, and whatever is not kept is unmapped, so the next messages fault
// in fresh pages. Up to kKeptBytes are kept, the newest first reused, the
// oldest unmapped beyond that: 128 MiB, two 64 MiB messages (the default
// maxMessageBytes) or four of 32 MiB. They are shared by every thread of the
// process. Kept memory stays mapped (and resident once written) until a
// later large message reuses it or the process ends.
constexpr uint64_t kLargeMessageFrom = kHeapServesBelow;
constexpr size_t kMappingGrain = 2u << 20;
constexpr size_t kKeptBytes = 128u << 20;

struct MessageMapping {
	void *base;
	size_t length;
};

struct KeptMappings {
	std::mutex lock;
	std::vector<MessageMapping> free; // oldest first
	size_t bytes = 0;                 // their total length, at most kKeptBytes
};

inline KeptMappings &Kept()
{
	static KeptMappings *kept = new KeptMappings; // never destroyed: finalizers may run at exit
	return *kept;
}

// Back to the kept list once its Buffer is collected; what passes
// kKeptBytes is unmapped, the oldest first.
inline void KeepMapping(MessageMapping *mapping)
{
	std::vector<MessageMapping> dropped;
	{
		std::lock_guard<std::mutex> hold(Kept().lock);
		KeptMappings &kept = Kept();
		kept.free.push_back(*mapping);
		kept.bytes += mapping->length;
		while (kept.bytes > kKeptBytes) {
			dropped.push_back(kept.free.front());
			kept.bytes -= kept.free.front().length;
			kept.free.erase(kept.free.begin());
		}
	}
	for (const MessageMapping &old : dropped)
		munmap(old.base, old.length);
	delete mapping;
}

inline Napi::Value AllocMessage(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	size_t length = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
	size_t rounded = (length + kMappingGrain - 1) & ~(kMappingGrain - 1);
	MessageMapping *mapping = nullptr;
	{
		std::lock_guard<std::mutex> hold(Kept().lock);
		KeptMappings &kept = Kept();
		// The newest that fits without wasting more than the message's own size.
		for (size_t i = kept.free.size(); i-- > 0;) {
			if (kept.free[i].length >= rounded && kept.free[i].length / 2 <= rounded) {
				mapping = new MessageMapping(kept.free[i]);
				kept.bytes -= kept.free[i].length;
				kept.free.erase(kept.free.begin() + static_cast<std::ptrdiff_t>(i));
				break;
			}
		}
	}
	if (!mapping) {
		void *base = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED)
			return Napi::Buffer<uint8_t>::New(env, length); // no room for a mapping: an ordinary Buffer
		mapping = new MessageMapping{ base, rounded };
	}
	// No AdjustExternalMemory: V8 already counts the Buffer's length as
	// external memory (--trace-gc: a mark-compact per 66 MB of 16 MiB
	// messages without it); telling it again brought them every 53 MB.
	return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t *>(mapping->base), length,
	                                  [](Napi::Env, uint8_t *, MessageMapping *m) { KeepMapping(m); }, mapping);
}

// The read side as JS methods (CRTP). T provides, reachable from here
// (declare `friend class SubscriberReads<T>`):
//   rc_subscriber *Reader()         the core subscriber while reads may go on, else nullptr
//   int NotReady()                  the status to report otherwise (RC_ECLOSED, RC_ESTATE)
//   SharedMapping *RingMapping()    the ring, for zero-copy views
//   void MoreInfo(Napi::Object &)   fields of its own for info()
template <typename T> class SubscriberReads {
public:
	// The methods of T's JS class that come from here.
	static std::vector<Napi::ClassPropertyDescriptor<T>> ReadMethods()
	{
		using W = Napi::ObjectWrap<T>;
		using M = Napi::Value (T::*)(const Napi::CallbackInfo &);
		return {
			W::InstanceMethod("read", static_cast<M>(&SubscriberReads::Read)),
			W::InstanceMethod("bindReadBuffers", static_cast<M>(&SubscriberReads::BindReadBuffers)),
			W::InstanceMethod("poll", static_cast<M>(&SubscriberReads::Poll)),
			W::InstanceMethod("handOutWholeMessages", static_cast<M>(&SubscriberReads::HandOutWholeMessages)),
			W::InstanceMethod("readMessage", static_cast<M>(&SubscriberReads::ReadMessage)),
			W::InstanceMethod("peekSeq", static_cast<M>(&SubscriberReads::PeekSeq)),
			W::InstanceMethod("release", static_cast<M>(&SubscriberReads::Release)),
			W::InstanceMethod("releasePartial", static_cast<M>(&SubscriberReads::ReleasePartial)),
			W::InstanceMethod("announcer", static_cast<M>(&SubscriberReads::AnnouncerOf)),
			W::InstanceMethod("endWait", static_cast<M>(&SubscriberReads::EndWait)),
			W::InstanceMethod("available", static_cast<M>(&SubscriberReads::Available)),
			W::InstanceMethod("heartbeat", static_cast<M>(&SubscriberReads::Heartbeat)),
			W::InstanceMethod("slotState", static_cast<M>(&SubscriberReads::SlotState)),
			W::InstanceMethod("info", static_cast<M>(&SubscriberReads::Info)),
			W::InstanceMethod("keepEnvelopes", static_cast<M>(&SubscriberReads::KeepEnvelopes)),
			W::InstanceAccessor("data", static_cast<M>(&SubscriberReads::Data), nullptr),
		};
	}

protected:
	// read(maxBytes, meta[, into]) -> Buffer holding the payloads (meta[0] =
	// count), or null with meta[0] = 0 (nothing) or a negative status. With
	// `into` (a Uint8Array of at least max_payload bytes, which the caller
	// reuses) the payloads are copied there, at most its length: no
	// allocation at all, so a reader that hands out batches valid until its
	// next read adds nothing for the GC to collect. Then it returns, instead
	// of `into`, how many of the first entries are where the same entries of
	// the last read into `into` were (same offset and length; LentLayout):
	// views the caller made of those last time show this batch's messages
	// without a look at each one.
	Napi::Value Read(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		uint32_t max_entries;
		double *meta = MetaArray(info[1], &max_entries);
		rc_subscriber *sub = Self().Reader();
		if (!sub) {
			meta[0] = Self().NotReady();
			return env.Null();
		}
		uint64_t max_bytes = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		uint64_t avail = rc_sub_available(sub);
		if (avail == 0) {
			// Still ask the core: it reports CLOSED / EVICTED / corruption.
			int r = rc_sub_read(sub, nullptr, 0, entries_, 0);
			meta[0] = r < 0 ? r : 0;
			return env.Null();
		}
		if (max_bytes < sub->max_payload)
			max_bytes = sub->max_payload;
		uint64_t cap = avail < max_bytes ? avail : max_bytes;
		uint8_t *target;
		Napi::Value out;
		bool lent = info.Length() > 2 && info[2].IsTypedArray();
		if (lent) {
			// A lent target needs no look ahead: rc_sub_read stops before a
			// fragmented message and answers RC_EMESSAGE itself.
			size_t length;
			const uint8_t *bytes;
			MessageBytes(env, info[2], &bytes, &length);
			if (length < sub->max_payload)
				throw Napi::RangeError::New(env, "read: the target is smaller than the ring's largest record");
			if (cap > length)
				cap = length;
			target = const_cast<uint8_t *>(bytes);
			out = info[2];
		} else {
			// A fragmented message next gets a buffer of its own (readMessage):
			// find out before allocating a batch buffer it would not use.
			int next = rc_sub_poll(sub, entries_, 1);
			if (next == RC_EMESSAGE) {
				AnnounceMessage(meta, sub);
				return env.Null();
			}
			if (next > 0)
				rc_sub_release_partial(sub, 0);
			if (cap >= kPrimeFrom)
				PrimeMalloc();
			Napi::Buffer<uint8_t> fresh = Napi::Buffer<uint8_t>::New(env, cap);
			target = fresh.Data();
			out = fresh;
		}
		int r = rc_sub_read(sub, target, cap, entries_, max_entries);
		if (r == RC_EMESSAGE) {
			AnnounceMessage(meta, sub);
			return env.Null();
		}
		if (r <= 0) {
			meta[0] = r;
			return env.Null();
		}
		FillMeta(meta, entries_, r);
		if (!lent)
			return out;
		return Napi::Number::New(env, lent_layout_.Follow(target, entries_, static_cast<uint32_t>(r)));
	}

	// Where the entries of the last read into a lent target went in it: a
	// reader that hands out views of a reused buffer makes one per index and
	// hands it out again while messages land where they did (one size
	// fills the buffer at the same offsets every time). Knowing here how far
	// that holds spares it a comparison per message (about 90 -> 30
	// instructions per 1 KiB message in its loop, bench/read-apis.mjs).
	struct LentLayout {
		const uint8_t *target = nullptr;
		uint32_t count = 0;
		std::vector<uint64_t> offsets;
		std::vector<uint32_t> lengths;

		// How many leading entries match the last read into `into` (none if
		// the last read went elsewhere), then remembers these.
		uint32_t Follow(const uint8_t *into, const rc_entry *entries, uint32_t n)
		{
			if (offsets.size() < kMaxBatch) {
				offsets.resize(kMaxBatch);
				lengths.resize(kMaxBatch);
			}
			uint32_t same = 0;
			if (into == target) {
				uint32_t known = n < count ? n : count;
				while (same < known && offsets[same] == entries[same].offset && lengths[same] == entries[same].length)
					same++;
			}
			for (uint32_t i = same; i < n; i++) {
				offsets[i] = entries[i].offset;
				lengths[i] = entries[i].length;
			}
			// Entries past n keep what an earlier, longer read into the same
			// target left, as the caller's views at those indexes do; what
			// another target left there is nothing the caller shows.
			count = into != target || n > count ? n : count;
			target = into;
			return same;
		}
	};

	~SubscriberReads() { UnbindSelf(bound_self_); }

	// bindReadBuffers(meta, scratch, maxCount) -> readSmall (below), a
	// function bound to this object (bound_self.h: no unwrap per call). The
	// arrays are looked up once here instead of on every call; the
	// references keep both alive, and their memory is outside the V8 heap
	// (napi_get_typedarray_info moves an on-heap array out for good), so the
	// pointers stay valid until the next bind or the object's end.
	Napi::Value BindReadBuffers(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		uint32_t max_entries;
		double *meta = MetaArray(info[0], &max_entries);
		Napi::Uint8Array scratch = info[1].As<Napi::Uint8Array>();
		uint32_t max_count = info[2].As<Napi::Number>().Uint32Value();
		bound_meta_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
		bound_scratch_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
		bound_meta_ = meta;
		bound_scratch_ = scratch.Data();
		bound_scratch_size_ = scratch.ByteLength();
		// One more than that is described to see whether there is more.
		small_count_ = max_count < max_entries ? max_count : max_entries > 0 ? max_entries - 1 : 0;
		return BindRawFunction<SubscriberReads, &SubscriberReads::ReadSmallBound>(env, bound_self_, this, "readSmall");
	}

	// readSmall() -> takes everything ready if that is at most maxCount
	// records and fits the scratch buffer (counted in ring bytes, headers
	// included): copies it there and acknowledges it, returning the count
	// (meta: offsets into scratch); 0 when nothing is ready; a negative
	// status; or RC_ETOOBIG, leaving it all to read(). A lone small message
	// is what this serves (a busy-polled round trip): it then costs a Buffer
	// from Node's pool instead of a native one of its own. A backlog goes to
	// read() whole, one buffer for the batch, so a blocked publisher also
	// gets its room back in large pieces. The release re-checks the copy, as
	// read() re-checks its own. meta[0] is the slot's state (RC_SLOT_*), not
	// the count: the caller follows it without crossing again.
	static napi_value ReadSmallBound(napi_env env, napi_callback_info info)
	{
		SubscriberReads *self = RawBoundObject<SubscriberReads>(env, info);
		napi_value count;
		napi_create_int32(env, self ? self->ReadSmall() : RC_ECLOSED, &count);
		return count;
	}

	int ReadSmall()
	{
		rc_subscriber *sub = Self().Reader();
		if (!sub) {
			bound_meta_[0] = RC_SLOT_FREE;
			return Self().NotReady();
		}
		int r = RC_ETOOBIG;
		if (rc_sub_available(sub) <= bound_scratch_size_)
			r = rc_sub_poll(sub, entries_, small_count_ + 1);
		if (r > 0) {
			bool fits = static_cast<uint32_t>(r) <= small_count_;
			uint64_t used = 0;
			for (int i = 0; fits && i < r; i++) {
				uint32_t length = entries_[i].length;
				if (used + length > bound_scratch_size_) {
					fits = false;
					break;
				}
				if (length)
					memcpy(bound_scratch_ + used, sub->data + entries_[i].offset, length);
				entries_[i].offset = used;
				used += length;
			}
			// Too much: acknowledge nothing, read() describes it all again.
			int released = fits ? rc_sub_release(sub) : rc_sub_release_partial(sub, 0);
			if (released < 0)
				r = released;
			else if (!fits)
				r = RC_ETOOBIG;
			else
				FillMeta(bound_meta_, entries_, r);
		} else if (r == RC_EMESSAGE) {
			AnnounceMessage(bound_meta_, sub);
		}
		bound_meta_[0] = rc_sub_slot_state(sub);
		return r;
	}

	// peekSeq() -> the sequence number of the next message if its record is
	// in the ring, else -1; acknowledges nothing. After a join through shared
	// memory it says exactly where this subscriber's stream begins.
	Napi::Value PeekSeq(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		double seq = -1;
		int r = sub ? rc_sub_poll(sub, entries_, 1) : RC_ECLOSED;
		if (r > 0) {
			seq = static_cast<double>(entries_[0].seq);
			rc_sub_release_partial(sub, 0);
		} else if (r == RC_EMESSAGE) {
			seq = static_cast<double>(sub->frag.message_seq);
		}
		return Napi::Number::New(info.Env(), seq);
	}

	// poll(meta) -> count of records described in meta (offsets into `data`),
	// or a negative status. Nothing is acknowledged before release().
	Napi::Value Poll(const Napi::CallbackInfo &info)
	{
		uint32_t max_entries;
		double *meta = MetaArray(info[0], &max_entries);
		rc_subscriber *sub = Self().Reader();
		int r = sub ? rc_sub_poll(sub, entries_, max_entries) : Self().NotReady();
		if (r > 0)
			FillMeta(meta, entries_, r);
		else if (r == RC_EMESSAGE)
			AnnounceMessage(meta, sub);
		else
			meta[0] = r;
		return Napi::Number::New(info.Env(), r);
	}

	// handOutWholeMessages(maxMessage): from now on read, poll and readSmall
	// stop before a fragmented message with RC_EMESSAGE (meta[1] = its
	// length), and refuse one declaring more than maxMessage bytes (0: the
	// ring's max_message) as corrupt, before anything is allocated.
	Napi::Value HandOutWholeMessages(const Napi::CallbackInfo &info)
	{
		if (rc_subscriber *sub = Self().Reader()) {
			rc_sub_set_max_message(sub, static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
			rc_sub_hand_out_whole_messages(sub);
		}
		return info.Env().Undefined();
	}

	// readMessage(message, filled[, fresh]) -> the new fill, or a negative
	// status. The fragments go from the ring straight into `message` (one
	// copy per byte), each acknowledged as soon as it is copied and
	// re-checked. `fresh`: `message` is a Buffer of its own for this message
	// (not a reused one, which may be in the cache): from kStreamCopiesFrom
	// on it is written with non-temporal stores (RC_COPY_STREAM); a reused
	// one from kReusedStreamsFrom on, where it is past the cache too.
	Napi::Value ReadMessage(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		rc_subscriber *sub = Self().Reader();
		if (!sub)
			return Napi::Number::New(env, Self().NotReady());
		const uint8_t *bytes;
		size_t length;
		MessageBytes(env, info[0], &bytes, &length);
		uint64_t filled = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
		bool fresh = info.Length() > 2 && info[2].ToBoolean();
		uint32_t copy_flags = length >= (fresh ? kStreamCopiesFrom : kReusedStreamsFrom) ? RC_COPY_STREAM : 0;
		uint64_t had = filled;
		int r = rc_sub_read_message_flags(sub, const_cast<uint8_t *>(bytes), length, &filled, copy_flags);
		if (copy_flags & RC_COPY_STREAM)
			streamed_bytes_ += filled - had;
		return Napi::Number::New(env, r < 0 ? static_cast<double>(r) : static_cast<double>(filled));
	}

	Napi::Value Release(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		return Napi::Number::New(info.Env(), sub ? rc_sub_release(sub) : RC_ECLOSED);
	}

	Napi::Value ReleasePartial(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		return Napi::Number::New(info.Env(), sub ? rc_sub_release_partial(sub, info[0].As<Napi::Number>().Uint32Value()) : RC_ECLOSED);
	}

	// announcer() -> this reader's Announce as an Announcer (announcer.h),
	// for FdWatcher's sleepFunction(): an External that holds the reader's
	// BoundSelf until it is collected.
	Napi::Value AnnouncerOf(const Napi::CallbackInfo &info)
	{
		if (!bound_self_)
			bound_self_ = new BoundSelf<SubscriberReads>{this, 1};
		bound_self_->refs++;
		auto *announcer = new Announcer{&AnnounceThrough, &RefBound, &UnrefBound, bound_self_};
		return Napi::External<Announcer>::New(info.Env(), announcer, [](Napi::Env, Announcer *a) {
			a->unref(a->bound);
			delete a;
		});
	}

	static bool AnnounceThrough(void *bound, bool clear_ring)
	{
		SubscriberReads *self = static_cast<BoundSelf<SubscriberReads> *>(bound)->self;
		return self && self->Announce(clear_ring);
	}

	static void RefBound(void *bound) { static_cast<BoundSelf<SubscriberReads> *>(bound)->refs++; }
	static void UnrefBound(void *bound) { static_cast<BoundSelf<SubscriberReads> *>(bound)->Unref(); }

	// Announce(clear_ring) -> true: announced, sleep on the doorbell now;
	// false: something is there (or to report), read again. clear_ring:
	// first clear the ring the doorbell's watcher left when it woke the last
	// wait (FdWatcher's leaveRung), off the path from that ring to the
	// reader. Before the announcement, so a ring for this one stays; only
	// when no other wait is pending, which it may be for. Reached from JS
	// only through the watcher's sleep (announcer(), FdWatcher's
	// sleepFunction), which starts the watcher once announced.
	bool Announce(bool clear_ring)
	{
		rc_subscriber *sub = Self().Reader();
		if (sub && clear_ring)
			Self().ClearDoorbell();
		return sub && rc_sub_prepare_wait(sub);
	}

	// What Announce(true) clears: nothing here; T's own ClearDoorbell()
	// hides this one where its doorbell's watcher leaves rings.
	void ClearDoorbell() {}

	Napi::Value EndWait(const Napi::CallbackInfo &info)
	{
		if (rc_subscriber *sub = Self().Reader())
			rc_sub_end_wait(sub);
		return info.Env().Undefined();
	}

	Napi::Value Available(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		return Napi::Number::New(info.Env(), sub ? static_cast<double>(rc_sub_available(sub)) : 0);
	}

	Napi::Value Heartbeat(const Napi::CallbackInfo &info)
	{
		if (rc_subscriber *sub = Self().Reader())
			rc_sub_heartbeat(sub);
		return info.Env().Undefined();
	}

	Napi::Value SlotState(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		return Napi::Number::New(info.Env(), sub ? rc_sub_slot_state(sub) : static_cast<uint32_t>(RC_SLOT_FREE));
	}

	// keepEnvelopes(): poll/read hand out each message's envelope too (bridges).
	Napi::Value KeepEnvelopes(const Napi::CallbackInfo &info)
	{
		if (rc_subscriber *sub = Self().Reader())
			rc_sub_keep_envelopes(sub);
		return info.Env().Undefined();
	}

	// info() -> what the subscriber knows of itself and of the ring.
	Napi::Value Info(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Object out = Napi::Object::New(env);
		rc_subscriber *sub = Self().Reader();
		if (!sub)
			return out;
		out.Set("slot", sub->slot);
		out.Set("generation", static_cast<double>(sub->generation));
		out.Set("position", static_cast<double>(sub->pos));
		out.Set("capacity", static_cast<double>(sub->capacity));
		out.Set("maxPayload", sub->max_payload);
		out.Set("lostFrom", static_cast<double>(sub->lost_from));
		out.Set("lostTo", static_cast<double>(sub->lost_to));
		out.Set("lostToSeq", sub->lost_to_seq == RC_SEQ_UNKNOWN ? -1.0 : static_cast<double>(sub->lost_to_seq));
		out.Set("lostMessages", __atomic_load_n(&sub->slot_mirror->lost_messages, __ATOMIC_RELAXED));
		out.Set("evictReason", __atomic_load_n(&sub->slot_mirror->evict_reason, __ATOMIC_RELAXED));
		out.Set("joinPosition", static_cast<double>(__atomic_load_n(&sub->slot_mirror->join_position, __ATOMIC_RELAXED)));
		out.Set("publisherState", __atomic_load_n(&sub->desc->publisher_state, __ATOMIC_ACQUIRE));
		out.Set("head", static_cast<double>(__atomic_load_n(&sub->desc->head, __ATOMIC_ACQUIRE)));
		out.Set("messages", static_cast<double>(__atomic_load_n(&sub->desc->messages, __ATOMIC_RELAXED)));
		out.Set("doorbellsRung", static_cast<double>(sub->doorbells_rung));
		out.Set("streamedBytes", static_cast<double>(streamed_bytes_));
		out.Set("fragmentSpins", static_cast<double>(sub->fragment_spin.spins));
		out.Set("fragmentSpinsFound", static_cast<double>(sub->fragment_spin.found));
		out.Set("features", sub->desc->features);
		char bus_id[17];
		snprintf(bus_id, sizeof(bus_id), "%016llx", static_cast<unsigned long long>(sub->desc->bus_id));
		out.Set("busId", bus_id);
		Self().MoreInfo(out);
		return out;
	}

	// data -> the ring's data area, for zero-copy views.
	Napi::Value Data(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		if (!sub) {
			Napi::Error err = Napi::Error::New(info.Env(), "subscriber is closed");
			err.Set("code", Napi::String::New(info.Env(), "ERR_RINGCAST_CLOSED"));
			throw err;
		}
		return ExposeMapping(info.Env(), Self().RingMapping(), RC_DESC_SIZE, sub->capacity);
	}

private:
	T &Self() { return static_cast<T &>(*this); }

	rc_entry entries_[kMaxBatch];
	LentLayout lent_layout_;
	BoundSelf<SubscriberReads> *bound_self_ = nullptr;
	// What bindReadBuffers() bound for readSmall().
	Napi::ObjectReference bound_meta_ref_;
	Napi::ObjectReference bound_scratch_ref_;
	double *bound_meta_ = nullptr;
	uint8_t *bound_scratch_ = nullptr;
	size_t bound_scratch_size_ = 0;
	uint32_t small_count_ = 0;
	// Bytes of fragmented messages readMessage copied with non-temporal
	// stores (info().streamedBytes): which copy a message got.
	uint64_t streamed_bytes_ = 0;
};

#endif // RINGCAST_SUBSCRIBER_READS_H
