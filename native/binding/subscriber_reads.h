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

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <vector>

extern "C" {
#include "rc_os.h"
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
			W::InstanceMethod("poll", static_cast<M>(&SubscriberReads::Poll)),
			W::InstanceMethod("release", static_cast<M>(&SubscriberReads::Release)),
			W::InstanceMethod("releasePartial", static_cast<M>(&SubscriberReads::ReleasePartial)),
			W::InstanceMethod("prepareWait", static_cast<M>(&SubscriberReads::PrepareWait)),
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
	// read(maxBytes, meta) -> Buffer holding the payloads (meta[0] = count),
	// or null with meta[0] = 0 (nothing) or a negative status.
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
		Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, cap);
		int r = rc_sub_read(sub, out.Data(), cap, entries_, max_entries);
		if (r <= 0) {
			meta[0] = r;
			return env.Null();
		}
		FillMeta(meta, entries_, r);
		return out;
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
		else
			meta[0] = r;
		return Napi::Number::New(info.Env(), r);
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

	Napi::Value PrepareWait(const Napi::CallbackInfo &info)
	{
		rc_subscriber *sub = Self().Reader();
		return Napi::Boolean::New(info.Env(), sub && rc_sub_prepare_wait(sub));
	}

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
		out.Set("lostMessages", __atomic_load_n(&sub->slot_mirror->lost_messages, __ATOMIC_RELAXED));
		out.Set("evictReason", __atomic_load_n(&sub->slot_mirror->evict_reason, __ATOMIC_RELAXED));
		out.Set("joinPosition", static_cast<double>(__atomic_load_n(&sub->slot_mirror->join_position, __ATOMIC_RELAXED)));
		out.Set("publisherState", __atomic_load_n(&sub->desc->publisher_state, __ATOMIC_ACQUIRE));
		out.Set("head", static_cast<double>(__atomic_load_n(&sub->desc->head, __ATOMIC_ACQUIRE)));
		out.Set("messages", static_cast<double>(__atomic_load_n(&sub->desc->messages, __ATOMIC_RELAXED)));
		out.Set("doorbellsRung", static_cast<double>(sub->doorbells_rung));
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
};

#endif // RINGCAST_SUBSCRIBER_READS_H
