// SPDX-License-Identifier: MIT
//
// The Xen region provider in the binding: a thin layer over
// native/src/providers/xen/rc_xen.c (docs/xen.md).
//
//   XenPublisher   the publisher's side: one ring (from the grant device,
//                  kmod/ringcast_xengrant.h) granted read-only to every
//                  receiver domain, joins and deaths served from the
//                  event-channel device. Writing, claiming and waiting
//                  for room are every publisher's (publisher_writes.h):
//                  a message is written once, whatever the number of
//                  receiver domains.
//   XenSubscriber  a subscriber in a receiver domain: the reads of every
//                  subscriber (subscriber_reads.h) plus open and join, which
//                  wait on XenStore and the publisher and so run off the
//                  event loop (AsyncWorker).

#include "xen.h"
#include "ring_snapshot.h"
#include "export_constant.h"
#include "publisher_writes.h"
#include "subscriber_reads.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "rc_xen.h"
#include "ringcast.h"
}

namespace {

Napi::Error XenError(Napi::Env env, const std::string &what, int status, const char *step)
{
	std::string detail = status < RC_ENOSLOT ? std::strerror(-status) : rc_status_name(status);
	Napi::Error err = Napi::Error::New(env, what + (step ? std::string(" (") + step + ")" : "") + ": " + detail);
	err.Set("errno", Napi::Number::New(env, status < RC_ENOSLOT ? -status : 0));
	err.Set("status", Napi::Number::New(env, status));
	err.Set("code", Napi::String::New(env, status == -EINVAL ? "ERR_RINGCAST_INVALID_OPTION" : "ERR_RINGCAST_SYSTEM"));
	return err;
}

// ---------------------------------------------------------------------------

class XenPublisher : public Napi::ObjectWrap<XenPublisher>, public PublisherWrites<XenPublisher> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		auto properties = WriteMethods();
		properties.push_back(InstanceMethod<&XenPublisher::Service>("service"));
		properties.push_back(InstanceMethod<&XenPublisher::Backoff>("backoff"));
		properties.push_back(InstanceMethod<&XenPublisher::Receivers>("receivers"));
		properties.push_back(InstanceMethod<&XenPublisher::ManualLine>("manualLine"));
		properties.push_back(InstanceMethod<&XenPublisher::Destroy>("destroy"));
		properties.push_back(InstanceAccessor<&XenPublisher::EvtchnFd>("evtchnFd"));
		properties.push_back(InstanceAccessor<&XenPublisher::Attached>("attached"));
		properties.push_back(InstanceAccessor<&XenPublisher::OwnDomid>("ownDomid"));
		properties.push_back(InstanceAccessor<&XenPublisher::RingPages>("ringPages"));
		return DefineClass(env, "XenPublisher", properties);
	}

	// new XenPublisher(bus, capacity, policy, receivers: [domid, ackGrant][],
	//                  useXenstore, heartbeatTimeoutMs, maxLagBytes, features)
	XenPublisher(const Napi::CallbackInfo &info) : Napi::ObjectWrap<XenPublisher>(info)
	{
		Napi::Env env = info.Env();
		std::string bus = info[0].As<Napi::String>().Utf8Value();
		uint64_t capacity = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
		uint32_t policy = info[2].As<Napi::Number>().Uint32Value();
		Napi::Array list = info[3].As<Napi::Array>();
		bool use_xenstore = info[4].As<Napi::Boolean>().Value();
		uint64_t heartbeat_timeout = static_cast<uint64_t>(info[5].As<Napi::Number>().DoubleValue());
		uint64_t max_lag = static_cast<uint64_t>(info[6].As<Napi::Number>().DoubleValue());
		uint32_t features = info[7].As<Napi::Number>().Uint32Value();
		std::vector<rc_xen_receiver> receivers(list.Length());
		for (uint32_t i = 0; i < list.Length(); i++) {
			Napi::Array entry = list.Get(i).As<Napi::Array>();
			receivers[i].domid = static_cast<uint16_t>(entry.Get(0u).As<Napi::Number>().Uint32Value());
			receivers[i].ack_grant = entry.Get(1u).As<Napi::Number>().Uint32Value();
		}
		// Big (per-domain grant references): off the stack, zeroed as rc_xen_pub_open expects.
		xp_ = std::make_unique<rc_xen_pub>();
		int r = rc_xen_pub_open(xp_.get(), bus.c_str(), capacity, policy, features, receivers.data(),
					static_cast<uint32_t>(receivers.size()), use_xenstore);
		if (r < 0)
			throw XenError(env, "cannot open Xen bus " + bus, r, xp_->failed_step);
		xp_->heartbeat_timeout_ms = heartbeat_timeout;
		// The ring mapping is shared with the `data` views handed to JS
		// (zero-copy claims), as on every publisher; xp_ keeps the rest.
		ring_ = new SharedMapping();
		ring_->map.addr = xp_->ring;
		ring_->map.size = static_cast<size_t>(xp_->ring_pages) * RC_PAGE_SIZE;
		live_ = true;
		if (max_lag)
			rc_pub_set_max_lag(&xp_->pub, max_lag);
	}

	~XenPublisher() override { Cleanup(); }

private:
	friend class PublisherWrites<XenPublisher>;
	rc_publisher *Core() { return &xp_->pub; }
	bool IsLive() const { return live_; }
	SharedMapping *RingMapping() { return ring_; }

	void Cleanup()
	{
		if (!live_)
			return;
		live_ = false;
		// The ring goes with the last of us and the `data` views JS still
		// holds (SharedMapping); the device's file is released, and the
		// grants end, once it is unmapped.
		xp_->ring = nullptr;
		rc_xen_pub_destroy(xp_.get());
		ring_->Release();
		ring_ = nullptr;
	}

	// backoff(ringSlot, waitMs): that subscriber's joins are answered
	// BACKOFF meanwhile (evicted slow or protocol repeatedly), as an ivshmem
	// guest's (rc_join.c, through rc_xen_pub_backoff).
	Napi::Value Backoff(const Napi::CallbackInfo &info)
	{
		if (live_)
			rc_xen_pub_backoff(xp_.get(), info[0].As<Napi::Number>().Uint32Value(),
					   info[1].As<Napi::Number>().Uint32Value());
		return info.Env().Undefined();
	}

	// service() -> [{ domain, domid, slot, ringSlot, kind, death, verdict }]:
	// joins, leaves, deaths and refusals since the last call (non-blocking).
	// Slot transitions, evictions included, are the core's (takeChanges),
	// as on every publisher.
	Napi::Value Service(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Array out = Napi::Array::New(env);
		if (!live_)
			return out;
		int n = rc_xen_pub_service(xp_.get(), 0);
		if (n < 0)
			throw XenError(env, "serve the event channel", n, nullptr);
		for (int i = 0; i < n; i++) {
			const rc_xen_pub_event &e = xp_->event[i];
			uint32_t rs = xp_->domain[e.domain]->slot[e.slot].ring_slot;
			Napi::Object o = Napi::Object::New(env);
			o.Set("domain", e.domain);
			o.Set("domid", xp_->domain[e.domain]->domid);
			o.Set("slot", e.slot);
			o.Set("ringSlot", rs);
			o.Set("kind", e.kind);
			o.Set("death", e.death);
			o.Set("verdict", __atomic_load_n(&reinterpret_cast<const rc_join_answer *>(
				xp_->pub.ring + RC_JOIN_ANSWER_OFFSET + rs * RC_JOIN_ANSWER_SIZE)->verdict,
				__ATOMIC_RELAXED));
			out.Set(out.Length(), o);
		}
		return out;
	}

	// receivers() -> [{ domid, slot, ringSlot, ackGrant }] in ring-slot
	// order: who each slot of the ring is for.
	Napi::Value Receivers(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		Napi::Array out = Napi::Array::New(env);
		for (uint32_t di = 0; di < xp_->domains; di++) {
			const rc_xen_domain *d = xp_->domain[di];
			for (uint32_t s = 0; s < d->slots; s++) {
				Napi::Object o = Napi::Object::New(env);
				o.Set("domid", d->domid);
				o.Set("slot", s);
				o.Set("ringSlot", d->slot[s].ring_slot);
				o.Set("ackGrant", d->slot[s].ack_grant);
				out.Set(d->slot[s].ring_slot, o);
			}
		}
		return out;
	}

	// manualLine(domain, slot) -> the paper's reference passing for one slot
	// ("DOMID RING-SLOT PORT ACK-REF RING-SIZE REF..."), or null where the
	// subscriber grants its ack page (it cannot be passed by hand).
	Napi::Value ManualLine(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		char line[RC_XEN_MANUAL_LINE_MAX];
		uint32_t domain = info[0].As<Napi::Number>().Uint32Value(), slot = info[1].As<Napi::Number>().Uint32Value();
		if (rc_xen_pub_manual_line(xp_.get(), domain, slot, line, sizeof(line)) < 0)
			return info.Env().Null();
		return Napi::String::New(info.Env(), line);
	}

	Napi::Value Destroy(const Napi::CallbackInfo &info)
	{
		this->RevokeCopyTarget(info.Env());
		Cleanup();
		return info.Env().Undefined();
	}

	Napi::Value EvtchnFd(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? xp_->dev.evtchn_fd : -1);
	}

	Napi::Value Attached(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? rc_xen_pub_attached(xp_.get()) : 0);
	}

	Napi::Value OwnDomid(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? xp_->own_domid : 0);
	}

	Napi::Value RingPages(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? xp_->ring_pages : 0);
	}

	std::unique_ptr<rc_xen_pub> xp_;
	SharedMapping *ring_ = nullptr;
	bool live_ = false;
};

// ---------------------------------------------------------------------------

class XenSubscriber : public Napi::ObjectWrap<XenSubscriber>, public SubscriberReads<XenSubscriber> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		auto properties = ReadMethods();
		properties.push_back(InstanceMethod<&XenSubscriber::Open>("open"));
		properties.push_back(InstanceMethod<&XenSubscriber::Join>("join"));
		properties.push_back(InstanceMethod<&XenSubscriber::Leave>("leave"));
		properties.push_back(InstanceMethod<&XenSubscriber::PublisherGone>("publisherGone"));
		properties.push_back(InstanceMethod<&XenSubscriber::Destroy>("destroy"));
		properties.push_back(InstanceAccessor<&XenSubscriber::DoorbellFd>("doorbellFd"));
		properties.push_back(InstanceAccessor<&XenSubscriber::LastVerdict>("lastVerdict"));
		return DefineClass(env, "XenSubscriber", properties);
	}

	// new XenSubscriber(bus, publisherDomid, slot, manualLine | null): no
	// device is touched before open().
	XenSubscriber(const Napi::CallbackInfo &info) : Napi::ObjectWrap<XenSubscriber>(info)
	{
		Napi::Env env = info.Env();
		bus_ = info[0].As<Napi::String>().Utf8Value();
		pub_domid_ = static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value());
		slot_ = info[2].As<Napi::Number>().Uint32Value();
		if (info[3].IsString()) {
			std::string line = info[3].As<Napi::String>().Utf8Value();
			manual_ = std::make_unique<rc_xen_manual>();
			if (rc_xen_manual_parse(line.c_str(), manual_.get()) < 0)
				throw XenError(env, "manual rendezvous line", -EINVAL, nullptr);
		}
		xs_ = std::make_unique<rc_xen_sub>();
	}

	~XenSubscriber() override
	{
		// A worker holds a reference to us while it runs: none runs here.
		Cleanup();
	}

private:
	// Runs a blocking step of rc_xen.c on the thread pool; resolves with
	// its status. The subscriber cannot be collected meanwhile (ref_), and
	// reads report NotReady() until it is done.
	class Step : public Napi::AsyncWorker {
	public:
		enum Kind { kOpen, kJoin };
		Step(Napi::Env env, XenSubscriber *self, Kind kind, int timeout_ms)
			: Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), self_(self),
			  kind_(kind), timeout_ms_(timeout_ms)
		{
			ref_ = Napi::Persistent(self->Value());
		}
		Napi::Promise Promise() { return deferred_.Promise(); }
		void Execute() override
		{
			rc_xen_sub *xs = self_->xs_.get();
			if (kind_ == kOpen)
				status_ = rc_xen_sub_open(xs, self_->bus_.c_str(), self_->pub_domid_, self_->slot_,
							  self_->manual_.get(), timeout_ms_);
			else
				status_ = rc_xen_sub_join(xs, timeout_ms_);
		}
		void OnOK() override
		{
			self_->busy_ = false;
			if (kind_ == kOpen && status_ == 0)
				self_->Opened();
			if (self_->destroy_pending_)
				self_->Cleanup();
			Napi::Object out = Napi::Object::New(Env());
			out.Set("status", status_);
			out.Set("step", self_->xs_->failed_step ? self_->xs_->failed_step : "");
			deferred_.Resolve(out);
		}

	private:
		Napi::Promise::Deferred deferred_;
		Napi::ObjectReference ref_;
		XenSubscriber *self_;
		Kind kind_;
		int timeout_ms_;
		int status_ = 0;
	};

	Napi::Value StartStep(const Napi::CallbackInfo &info, Step::Kind kind)
	{
		Napi::Env env = info.Env();
		if (busy_ || destroyed_ || (kind == Step::kJoin && !opened_) || (kind == Step::kOpen && opened_)) {
			Napi::Error err = Napi::Error::New(env, "Xen subscriber: open/join not valid now");
			err.Set("code", Napi::String::New(env, "ERR_RINGCAST_STATE"));
			throw err;
		}
		Step *step = new Step(env, this, kind, info[0].As<Napi::Number>().Int32Value());
		busy_ = true;
		Napi::Promise promise = step->Promise();
		step->Queue();
		return promise;
	}

	// open(timeoutMs) -> Promise<{ status, step }>: looks the bus up (XenStore,
	// waiting for the publisher) or takes the manual line; maps the ring
	// read-only, binds the event channel, sets up the ack page.
	Napi::Value Open(const Napi::CallbackInfo &info) { return StartStep(info, Step::kOpen); }

	// join(timeoutMs) -> Promise<{ status }>: RC_OK attached; RC_EINVAL
	// refused (lastVerdict says why); -ETIMEDOUT. Also the way back after
	// an eviction (same slot, same pages).
	Napi::Value Join(const Napi::CallbackInfo &info) { return StartStep(info, Step::kJoin); }

	void Opened()
	{
		// The ring mapping now belongs to ring_, shared with the `data`
		// views handed to JS; xs_ keeps the rest.
		opened_ = true;
		ring_ = new SharedMapping();
		ring_->map.addr = xs_->ring;
		ring_->map.size = xs_->ring_size;
	}

	void Cleanup()
	{
		if (busy_) {
			destroy_pending_ = true;
			return;
		}
		if (destroyed_)
			return;
		destroyed_ = true;
		if (!opened_)
			return;
		// The grant is released now; the pages stay mapped (and readable)
		// for views JS still holds, until SharedMapping unmaps them.
		rc_xen_grant_unmap(&xs_->dev, xs_->ring_index, xs_->ring_pages, nullptr);
		xs_->ring = nullptr;
		rc_xen_sub_close(xs_.get());
		ring_->Release();
		ring_ = nullptr;
	}

	bool Ready() const { return opened_ && !busy_ && !destroyed_ && xs_->joined; }

	friend class SubscriberReads<XenSubscriber>;
	rc_subscriber *Reader() { return Ready() ? &xs_->sub : nullptr; }
	int NotReady() const { return destroyed_ ? RC_ECLOSED : RC_ESTATE; }
	SharedMapping *RingMapping() { return ring_; }
	void MoreInfo(Napi::Object &out)
	{
		out.Set("domid", xs_->own_domid);
		out.Set("publisherDomid", xs_->pub_domid);
		out.Set("ackGrant", xs_->ack_grant);
	}

	// leave(): gives the slot back (no answer awaited).
	Napi::Value Leave(const Napi::CallbackInfo &info)
	{
		bool can = opened_ && !busy_ && !destroyed_;
		return Napi::Number::New(info.Env(), can ? rc_xen_sub_leave(xs_.get(), 0) : RC_ECLOSED);
	}

	// publisherGone(): the publisher's kernel cleared publisher_state when
	// its ring allocation went away (rc_xen_pub_open's unmap notification),
	// so it died or destroyed the bus without an orderly close being read.
	Napi::Value PublisherGone(const Napi::CallbackInfo &info)
	{
		if (!Ready())
			return Napi::Boolean::New(info.Env(), false);
		uint32_t state = __atomic_load_n(&xs_->sub.desc->publisher_state, __ATOMIC_ACQUIRE);
		return Napi::Boolean::New(info.Env(), state != RC_PUB_OPEN && state != RC_PUB_CLOSED && state != RC_PUB_ABORTED);
	}

	Napi::Value LastVerdict(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), xs_->last_verdict);
	}

	Napi::Value Destroy(const Napi::CallbackInfo &info)
	{
		Cleanup();
		return info.Env().Undefined();
	}

	Napi::Value DoorbellFd(const Napi::CallbackInfo &info)
	{
		bool can = opened_ && !destroyed_;
		return Napi::Number::New(info.Env(), can ? xs_->dev.evtchn_fd : -1);
	}

	std::string bus_;
	uint16_t pub_domid_ = 0;
	uint32_t slot_ = 0;
	std::unique_ptr<rc_xen_manual> manual_;
	std::unique_ptr<rc_xen_sub> xs_;
	SharedMapping *ring_ = nullptr;
	bool opened_ = false, busy_ = false, destroyed_ = false, destroy_pending_ = false;
};

// xenInspect(bus, publisherDomid) -> inspectRing's snapshot of a Xen bus,
// plus { domid: ours, domainSlots: our domain's ring slots }, read in a
// receiver domain through rc_xen_view (the descriptor mapped read-only: no
// slot, no write, no event channel). Throws XenError (errno EXDEV: the
// publisher's own domain; ENODATA: not published for this domain).
Napi::Value XenInspect(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string bus = info[0].As<Napi::String>().Utf8Value();
	uint16_t pub_domid = static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value());
	rc_xen_view view;
	int r = rc_xen_view_open(&view, bus.c_str(), pub_domid);
	if (r < 0)
		throw XenError(env, "inspect Xen bus " + bus, r, view.failed_step);
	// A copy, as inspectRing's pread: the publisher keeps writing the page.
	std::vector<uint8_t> copy(RC_DESC_SIZE);
	std::memcpy(copy.data(), view.desc, copy.size());
	Napi::Array slots = Napi::Array::New(env);
	for (uint32_t s = 0; s < view.slots; s++)
		slots.Set(s, view.ring_slot[s]);
	uint16_t own = view.own_domid;
	rc_xen_view_close(&view);
	Napi::Object out = DescribeRing(env, copy.data());
	out.Set("domid", own);
	out.Set("domainSlots", slots);
	return out;
}

// xenOwnDomid() -> this domain's id, from XenStore.
Napi::Value XenOwnDomid(const Napi::CallbackInfo &info)
{
	uint16_t domid = 0;
	int r = rc_xen_own_domid(&domid);
	if (r < 0)
		throw XenError(info.Env(), "this domain's id", r, "XenStore");
	return Napi::Number::New(info.Env(), domid);
}

// xenAvailable() -> whether this domain has the devices a Xen bus needs.
Napi::Value XenAvailable(const Napi::CallbackInfo &info)
{
	rc_xen_devices dev;
	int r = rc_xen_devices_open(&dev);
	if (r == 0)
		rc_xen_devices_close(&dev);
	return Napi::Boolean::New(info.Env(), r == 0);
}

} // namespace

void DrainEvtchn(int fd)
{
	rc_xen_devices dev = { -1, -1, fd };
	uint32_t ports[64];
	while (rc_xen_evtchn_pending(&dev, ports, 64) == 64) {
	}
}

void RegisterXen(Napi::Env env, Napi::Object exports)
{
	Napi::Object c = exports.Get("constants").As<Napi::Object>();
	RC_EXPORT_CONSTANT(c, RC_XEN_ACK_BY_SUBSCRIBER);
	RC_EXPORT_CONSTANT(c, RC_XEN_ACK_BY_PUBLISHER);
	RC_EXPORT_CONSTANT(c, RC_XEN_DEATH_UNMAP);
	RC_EXPORT_CONSTANT(c, RC_XEN_DEATH_XENSTORE);
	RC_EXPORT_CONSTANT(c, RC_XEN_DEATH_HEARTBEAT);
	RC_EXPORT_CONSTANT(c, RC_XEN_EVENT_JOINED);
	RC_EXPORT_CONSTANT(c, RC_XEN_EVENT_LEFT);
	RC_EXPORT_CONSTANT(c, RC_XEN_EVENT_DEAD);
	RC_EXPORT_CONSTANT(c, RC_XEN_EVENT_REFUSED);
	RC_EXPORT_CONSTANT(c, RC_XEN_MAX_DOMAINS);
	RC_EXPORT_CONSTANT(c, RC_XEN_MAX_DOMAIN_SLOTS);
	RC_EXPORT_CONSTANT(c, RC_XEN_MAX_CAPACITY);
	RC_EXPORT_CONSTANT(c, RC_XEN_BUS_NAME_MAX);
	exports.Set("XenPublisher", XenPublisher::Define(env));
	exports.Set("XenSubscriber", XenSubscriber::Define(env));
	exports.Set("xenAvailable", Napi::Function::New(env, XenAvailable));
	exports.Set("xenOwnDomid", Napi::Function::New(env, XenOwnDomid));
	exports.Set("xenInspect", Napi::Function::New(env, XenInspect));
}
