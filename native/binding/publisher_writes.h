// SPDX-License-Identifier: MIT
//
// What every publisher object of the binding shares, whoever supplies its
// ring: the socket/ivshmem Publisher (addon.cc: a memfd or the ivshmem ring
// file) and the Xen publisher (xen.cc: the grant device's ring). Writing,
// claiming, waiting for room, evicting and reporting are the same core calls
// on one rc_publisher; only the region provider differs (the publisher-side
// twin of subscriber_reads.h).
//
// The class using it, T, provides:
//   rc_publisher *Core()        its one core publisher
//   bool IsLive() const         false once destroyed (calls then throw
//                               ERR_RINGCAST_CLOSED or do nothing)
//   SharedMapping *RingMapping() the ring, shared with `data` views
#ifndef RINGCAST_PUBLISHER_WRITES_H
#define RINGCAST_PUBLISHER_WRITES_H

#include <napi.h>

#include "bound_self.h" // BoundSelf: offer without an unwrap per call
#include "message_bytes.h" // MessageBytes: one typed-array lookup per message
#include "subscriber_reads.h" // SharedMapping, ExposeMapping

#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include "ringcast.h"
}

template <typename T> class PublisherWrites {
public:
	static std::vector<Napi::ClassPropertyDescriptor<T>> WriteMethods()
	{
		using W = Napi::ObjectWrap<T>;
		using M = Napi::Value (T::*)(const Napi::CallbackInfo &);
		return {
			W::InstanceMethod("evict", static_cast<M>(&PublisherWrites::Evict)),
			W::InstanceMethod("offer", static_cast<M>(&PublisherWrites::Offer)),
			W::InstanceMethod("offerFunction", static_cast<M>(&PublisherWrites::OfferFunction)),
			W::InstanceMethod("offerBatch", static_cast<M>(&PublisherWrites::OfferBatch)),
			W::InstanceMethod("reserveBatch", static_cast<M>(&PublisherWrites::ReserveBatch)),
			W::InstanceMethod("commit", static_cast<M>(&PublisherWrites::Commit)),
			W::InstanceMethod("writePart", static_cast<M>(&PublisherWrites::WritePart)),
			W::InstanceMethod("claim", static_cast<M>(&PublisherWrites::Claim)),
			W::InstanceMethod("claimCommit", static_cast<M>(&PublisherWrites::ClaimCommit)),
			W::InstanceMethod("claimAbort", static_cast<M>(&PublisherWrites::ClaimAbort)),
			W::InstanceMethod("prepareWait", static_cast<M>(&PublisherWrites::PrepareWait)),
			W::InstanceMethod("endWait", static_cast<M>(&PublisherWrites::EndWait)),
			W::InstanceMethod("refresh", static_cast<M>(&PublisherWrites::Refresh)),
			W::InstanceMethod("setMaxLag", static_cast<M>(&PublisherWrites::SetMaxLag)),
			W::InstanceMethod("evictBlocking", static_cast<M>(&PublisherWrites::EvictBlocking)),
			W::InstanceMethod("checkHeartbeats", static_cast<M>(&PublisherWrites::CheckHeartbeats)),
			W::InstanceMethod("takeChanges", static_cast<M>(&PublisherWrites::TakeChanges)),
			W::InstanceMethod("stats", static_cast<M>(&PublisherWrites::Stats)),
			W::InstanceMethod("close", static_cast<M>(&PublisherWrites::Close)),
			W::InstanceMethod("abort", static_cast<M>(&PublisherWrites::Abort)),
			W::InstanceAccessor("data", static_cast<M>(&PublisherWrites::Data), nullptr),
			W::InstanceMethod("copyTarget", static_cast<M>(&PublisherWrites::CopyTarget)),
			W::InstanceAccessor("maxPayload", static_cast<M>(&PublisherWrites::MaxPayload), nullptr),
			W::InstanceAccessor("capacity", static_cast<M>(&PublisherWrites::Capacity), nullptr),
		};
	}

protected:
	~PublisherWrites()
	{
		UnbindSelf(bound_self_);
		// Collected without destroy(): the ArrayBuffer (garbage too) lets go of the ring itself.
		if (copy_hold_)
			copy_hold_->Unref();
	}

	T *Self() { return static_cast<T *>(this); }
	rc_publisher *Core() { return Self()->Core(); }

	void Live(Napi::Env env)
	{
		if (!Self()->IsLive()) {
			Napi::Error err = Napi::Error::New(env, "publisher is destroyed");
			err.Set("code", Napi::String::New(env, "ERR_RINGCAST_CLOSED"));
			throw err;
		}
	}

	// The publisher's mirror of slot `slot` in the ring's slot table.
	const rc_slot *Mirror(uint32_t slot)
	{
		return reinterpret_cast<const rc_slot *>(Core()->ring + RC_SLOT_TABLE_OFFSET + uint64_t(slot) * RC_SLOT_SIZE);
	}

	Napi::Value StateError(Napi::Env env, int status)
	{
		Napi::Error err = Napi::Error::New(env, std::string("publisher: ") + rc_status_name(status));
		err.Set("code", Napi::String::New(env, status == RC_ESTATE ? "ERR_RINGCAST_STATE" : "ERR_RINGCAST_NATIVE"));
		throw err;
	}

	Napi::Value Evict(const Napi::CallbackInfo &info)
	{
		uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
		uint32_t reason = info[1].As<Napi::Number>().Uint32Value();
		if (Self()->IsLive() && slot < RC_MAX_SUBSCRIBERS)
			rc_pub_evict(Core(), slot, reason);
		return info.Env().Undefined();
	}

	// offer(buf) -> 1 when the whole message was written and committed, 0
	// when there is no room now; +2 when slot states changed (takeChanges).
	Napi::Value Offer(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		const uint8_t *data;
		size_t length;
		MessageBytes(env, info[0], &data, &length);
		int r = rc_pub_offer(Core(), data, length);
		if (r != RC_OK && r != RC_EAGAIN && r != RC_ETOOBIG)
			return StateError(env, r);
		if (r == RC_OK)
			rc_pub_commit(Core());
		return Napi::Number::New(env, (r == RC_OK ? 1 : 0) | (Core()->changed ? 2 : 0));
	}

	// offerFunction() -> offer, bound to this object (bound_self.h): what a
	// busy-polling publisher calls, without an unwrap per call.
	Napi::Value OfferFunction(const Napi::CallbackInfo &info)
	{
		return BindFunction<T, &PublisherWrites::OfferBound>(info.Env(), bound_self_, Self(), "offer");
	}

	static Napi::Value OfferBound(const Napi::CallbackInfo &info)
	{
		T *self = BoundObject<T>(info);
		if (!self) {
			Napi::Error err = Napi::Error::New(info.Env(), "publisher: destroyed");
			err.Set("code", Napi::String::New(info.Env(), "ERR_RINGCAST_STATE"));
			throw err;
		}
		return self->Offer(info);
	}

	// offerBatch(...bufs) -> how many of bufs, in order, were written whole
	// (rc_pub_offer: the core copies each, by reference); one commit. For
	// messages from RESERVE_MAX_MESSAGE bytes on (publisher.ts), whose copy
	// copy_payload makes at full speed where glibc's memcpy, which a copy in
	// JavaScript would use, can crawl (ringcast.c). The messages come as
	// arguments, not as an array: info[i] is read from the call's own
	// arguments, where an array element costs napi_get_element (a property
	// lookup, a handle scope and a try/catch: about 550 instructions a
	// message, more than half of what this call did per 16 KiB message
	// besides the copy). The typed-array lookup (about 250) stays. A state
	// error is thrown after committing what was written.
	Napi::Value OfferBatch(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		size_t count = info.Length();
		size_t i = 0;
		for (; i < count; i++) {
			const uint8_t *data;
			size_t length;
			MessageBytes(env, info[i], &data, &length);
			int r = rc_pub_offer(Core(), data, length);
			if (r == RC_EAGAIN || r == RC_ETOOBIG)
				break;
			if (r != RC_OK) {
				rc_pub_commit(Core());
				StateError(env, r);
			}
		}
		rc_pub_commit(Core());
		return Napi::Number::New(env, static_cast<double>(i));
	}

	// reserveBatch(lengths, count, offsets) -> how many of the `count`
	// records of lengths[i] payload bytes were reserved whole, in order, at
	// the tail (rc_pub_reserve: headers written, nothing committed), stopping
	// at the first that does not fit now or is larger than a record;
	// offsets[i] says where in `data` each one's payload goes. The caller
	// copies the messages in (JavaScript: one copy per byte, from memory the
	// addon would have to look up per message) and then commits: nothing
	// else may run on this publisher in between. publishBatch of 1 KiB
	// messages: about 640 -> 390 instructions per message, against packing
	// them into one buffer first (two copies) or looking each up here as a
	// typed array (about 250 instructions a lookup).
	Napi::Value ReserveBatch(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		Napi::Uint32Array lengths = info[0].As<Napi::Uint32Array>();
		uint32_t count = info[1].As<Napi::Number>().Uint32Value();
		Napi::Float64Array offsets = info[2].As<Napi::Float64Array>();
		if (count > lengths.ElementLength())
			count = static_cast<uint32_t>(lengths.ElementLength());
		if (count > offsets.ElementLength())
			count = static_cast<uint32_t>(offsets.ElementLength());
		const uint32_t *length = lengths.Data();
		double *offset = offsets.Data();
		uint32_t reserved = 0;
		for (; reserved < count; reserved++) {
			int status;
			uint8_t *at = rc_pub_reserve(Core(), length[reserved], &status);
			if (!at) {
				// Nothing changes the state within one call: a state error comes first or not at all.
				if (status != RC_EAGAIN && status != RC_ETOOBIG && reserved == 0)
					StateError(env, status);
				break;
			}
			offset[reserved] = static_cast<double>(at - Core()->data);
		}
		return Napi::Number::New(env, reserved);
	}

	// commit(): publishes what was written (one head store) and rings the
	// doorbells of announced sleepers (rc_pub_commit).
	Napi::Value Commit(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		rc_pub_commit(Core());
		return info.Env().Undefined();
	}

	// writePart(buf, offset) -> new offset; commits each fragment as it is
	// written (rc_pub_write_part). Used for messages larger than a record,
	// which flow through the ring as the readers drain it.
	Napi::Value WritePart(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
		uint64_t offset = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
		int r = rc_pub_write_part(Core(), buf.Data(), buf.ByteLength(), &offset);
		if (r != RC_OK && r != RC_EAGAIN)
			return StateError(env, r);
		return Napi::Number::New(env, static_cast<double>(offset));
	}

	// claim(len) -> offset of the payload in `data`, or a negative status.
	Napi::Value Claim(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		int status = RC_OK;
		uint8_t *at = rc_pub_claim(Core(), info[0].As<Napi::Number>().Uint32Value(), &status);
		if (!at)
			return Napi::Number::New(env, status);
		return Napi::Number::New(env, static_cast<double>(at - Core()->data));
	}

	Napi::Value ClaimCommit(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		return Napi::Number::New(info.Env(), rc_pub_claim_commit(Core(), info[0].As<Napi::Number>().Uint32Value()));
	}

	Napi::Value ClaimAbort(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		return Napi::Number::New(info.Env(), rc_pub_claim_abort(Core()));
	}

	Napi::Value PrepareWait(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		uint64_t len = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		return Napi::Boolean::New(info.Env(), rc_pub_prepare_wait(Core(), len));
	}

	Napi::Value EndWait(const Napi::CallbackInfo &info)
	{
		if (Self()->IsLive())
			rc_pub_end_wait(Core());
		return info.Env().Undefined();
	}

	Napi::Value Refresh(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		uint64_t room = rc_pub_refresh(Core());
		return Napi::Number::New(info.Env(), room == UINT64_MAX ? -1 : static_cast<double>(room));
	}

	Napi::Value SetMaxLag(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		uint64_t max_lag = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		return Napi::Boolean::New(info.Env(), rc_pub_set_max_lag(Core(), max_lag) == RC_OK);
	}

	Napi::Value EvictBlocking(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		uint64_t len = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		return Napi::Number::New(info.Env(), rc_pub_evict_blocking(Core(), len));
	}

	Napi::Value CheckHeartbeats(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		uint64_t now = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		uint64_t timeout = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
		return Napi::Number::New(info.Env(), rc_pub_check_heartbeats(Core(), now, timeout));
	}

	// takeChanges() -> [{ slot, state, reason, evictions, evictReason,
	// lostFrom, lostTo, lostMessages }] for every slot whose state changed
	// since the last call. evictions counts them all (a rejoin may have
	// followed one already); the rest describe the last.
	Napi::Value TakeChanges(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Array out = Napi::Array::New(env);
		if (!Self()->IsLive())
			return out;
		uint64_t changed = rc_pub_take_changes(Core());
		uint32_t n = 0;
		for (uint32_t i = 0; changed && i < RC_MAX_SUBSCRIBERS; i++) {
			if (!(changed & (1ULL << i)))
				continue;
			const rc_slot *m = Mirror(i);
			Napi::Object o = Napi::Object::New(env);
			o.Set("slot", i);
			o.Set("state", Core()->slots[i].state);
			const rc_eviction &last = Core()->slots[i].last_eviction;
			o.Set("reason", m->evict_reason);
			o.Set("evictions", static_cast<double>(last.count));
			o.Set("evictReason", last.reason);
			o.Set("lostFrom", static_cast<double>(last.lost_from));
			o.Set("lostTo", static_cast<double>(last.lost_to));
			o.Set("lostMessages", last.lost_messages);
			out.Set(n++, o);
		}
		return out;
	}

	Napi::Value Stats(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		rc_pub_refresh(Core());
		Napi::Object out = Napi::Object::New(env);
		out.Set("head", static_cast<double>(Core()->head));
		out.Set("messages", static_cast<double>(Core()->messages));
		// The first message a subscriber attached now receives (welcome.nextSeq).
		out.Set("joinSeq", static_cast<double>(rc_pub_next_whole_seq(Core())));
		out.Set("doorbellsRung", static_cast<double>(Core()->doorbells_rung));
		out.Set("headStores", static_cast<double>(Core()->head_stores));
		out.Set("roomSpins", static_cast<double>(Core()->room_spin.spins));
		out.Set("roomSpinsFound", static_cast<double>(Core()->room_spin.found));
		Napi::Array slots = Napi::Array::New(env);
		uint32_t n = 0;
		for (uint32_t i = 0; i < RC_MAX_SUBSCRIBERS; i++) {
			const rc_pub_slot &s = Core()->slots[i];
			if (s.state == RC_SLOT_FREE)
				continue;
			const rc_slot *m = Mirror(i);
			Napi::Object o = Napi::Object::New(env);
			o.Set("slot", i);
			o.Set("state", s.state);
			o.Set("reason", m->evict_reason);
			o.Set("ack", static_cast<double>(s.acked));
			o.Set("generation", static_cast<double>(s.generation));
			o.Set("lostFrom", static_cast<double>(m->lost_from));
			o.Set("lostTo", static_cast<double>(m->lost_to));
			o.Set("lostMessages", m->lost_messages);
			o.Set("evictions", m->evictions);
			slots.Set(n++, o);
		}
		out.Set("slots", slots);
		return out;
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (Self()->IsLive())
			rc_pub_close(Core());
		return info.Env().Undefined();
	}

	Napi::Value Abort(const Napi::CallbackInfo &info)
	{
		if (Self()->IsLive())
			rc_pub_abort(Core());
		return info.Env().Undefined();
	}

	Napi::Value MaxPayload(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), Core()->max_payload);
	}

	Napi::Value Capacity(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), static_cast<double>(Core()->capacity));
	}

	// data -> a writable view of the data area (zero-copy claims); it keeps
	// the ring mapped while JS holds it.
	Napi::Value Data(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		return ExposeMapping(info.Env(), Self()->RingMapping(), RC_DESC_SIZE, Core()->capacity);
	}

	// copyTarget() -> an ArrayBuffer over the data area that publishBatch
	// copies messages into (reserveBatch), the same one on every call. Unlike
	// a `data` view it holds the ring only while this publisher lives:
	// destroy() detaches it (RevokeCopyTarget), so nothing in JS reaches
	// the memory any more, and lets go of the ring at once instead of when
	// the collector finalizes the ArrayBuffer (until then a closed publisher
	// kept its ring mapped: the crash campaign's census after close).
	Napi::Value CopyTarget(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		if (copy_hold_ && !copy_target_.IsEmpty() && !copy_target_.Value().IsEmpty())
			return copy_target_.Value();
		if (copy_hold_)
			copy_hold_->Unref();
		SharedMapping *mapping = Self()->RingMapping();
		mapping->refs++;
		copy_hold_ = new CopyHold{mapping, 2};
		Napi::ArrayBuffer target = Napi::ArrayBuffer::New(
			env, static_cast<uint8_t *>(mapping->map.addr) + RC_DESC_SIZE, Core()->capacity,
			[](Napi::Env, void *, CopyHold *hold) {
				hold->Let();
				hold->Unref();
			},
			copy_hold_);
		copy_target_ = Napi::Weak(target);
		return target;
	}

	// For T's destroy(): see CopyTarget.
	void RevokeCopyTarget(Napi::Env)
	{
		if (!copy_hold_)
			return;
		if (!copy_target_.IsEmpty() && !copy_target_.Value().IsEmpty())
			copy_target_.Value().Detach();
		copy_target_.Reset();
		copy_hold_->Let();
		copy_hold_->Unref();
		copy_hold_ = nullptr;
	}

	// The copy target's hold on the ring, shared by this object and the
	// ArrayBuffer's finalizer: whichever comes first lets go of the ring,
	// the last frees it.
	struct CopyHold {
		SharedMapping *mapping;
		int refs;

		void Let()
		{
			if (mapping)
				mapping->Release();
			mapping = nullptr;
		}

		void Unref()
		{
			if (--refs == 0)
				delete this;
		}
	};

	BoundSelf<T> *bound_self_ = nullptr;
	CopyHold *copy_hold_ = nullptr;
	Napi::Reference<Napi::ArrayBuffer> copy_target_;
};

#endif // RINGCAST_PUBLISHER_WRITES_H
