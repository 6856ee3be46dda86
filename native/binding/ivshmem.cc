// SPDX-License-Identifier: MIT
//
// The ivshmem region provider in the binding: a thin layer over
// native/src/providers/ivshmem/rc_ivshmem.c.
//
//   IvshmemHost        the publisher's side: ack files, the ivshmem server
//                      connection, join requests. Works on the rc_publisher of
//                      a native Publisher created over a ring file; its
//                      reference to that object only keeps it from being
//                      collected: the host must be destroyed before the
//                      Publisher's destroy(), which may unmap the ring.
//   IvshmemSubscriber  a guest's side: the reads of every subscriber
//                      (subscriber_reads.h) plus the join.

#include "ivshmem.h"
#include "export_constant.h"
#include "subscriber_reads.h"

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "rc_ivshmem.h"
#include "rc_memfd.h"
#include "ringcast.h"
}

namespace {

Napi::Error SystemError(Napi::Env env, const std::string &what, int negative_errno)
{
	Napi::Error err = Napi::Error::New(env, what + ": " + std::strerror(-negative_errno));
	err.Set("errno", Napi::Number::New(env, -negative_errno));
	err.Set("code", Napi::String::New(env, negative_errno == -EINVAL ? "ERR_RINGCAST_INVALID_OPTION"
									: "ERR_RINGCAST_SYSTEM"));
	return err;
}

// ---------------------------------------------------------------------------

class IvshmemHost : public Napi::ObjectWrap<IvshmemHost> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "IvshmemHost", {
			InstanceMethod<&IvshmemHost::Service>("service"),
			InstanceMethod<&IvshmemHost::Guests>("guests"),
			InstanceMethod<&IvshmemHost::Heartbeat>("heartbeat"),
			InstanceMethod<&IvshmemHost::Backoff>("backoff"),
			InstanceMethod<&IvshmemHost::Destroy>("destroy"),
			InstanceAccessor<&IvshmemHost::ServerFd>("serverFd"),
			InstanceAccessor<&IvshmemHost::DoorbellFd>("doorbellFd"),
			InstanceAccessor<&IvshmemHost::HostPeer>("hostPeer"),
		});
	}

	// new IvshmemHost(publisher, serverSocket, ackFiles[], peerIds[] (-1: any),
	//                 fileMode, connectTimeoutMs)
	IvshmemHost(const Napi::CallbackInfo &info) : Napi::ObjectWrap<IvshmemHost>(info)
	{
		Napi::Env env = info.Env();
		Napi::Object publisher = info[0].As<Napi::Object>();
		rc_publisher *pub = publisher.Get("_core").As<Napi::Function>().Call(publisher, {})
					    .As<Napi::External<rc_publisher>>().Data();
		std::string server = info[1].As<Napi::String>().Utf8Value();
		Napi::Array ack_files = info[2].As<Napi::Array>();
		Napi::Array peer_ids = info[3].As<Napi::Array>();
		unsigned mode = info[4].As<Napi::Number>().Uint32Value();
		int timeout_ms = info[5].As<Napi::Number>().Int32Value();
		uint32_t count = ack_files.Length();
		std::vector<std::string> paths;
		std::vector<rc_ivshmem_guest_config> guests(count);

		if (count == 0 || count > RC_MAX_SUBSCRIBERS || peer_ids.Length() != count)
			throw SystemError(env, "ivshmem guests", -EINVAL);
		paths.reserve(count);
		for (uint32_t i = 0; i < count; i++) {
			paths.push_back(ack_files.Get(i).As<Napi::String>().Utf8Value());
			int64_t peer = peer_ids.Get(i).As<Napi::Number>().Int64Value();
			guests[i].ack_path = paths.back().c_str();
			guests[i].peer_id = peer < 0 ? RC_IVSHMEM_NO_PEER : static_cast<uint32_t>(peer);
		}
		int r = rc_ivshmem_host_init(&host_, pub, guests.data(), count, mode);
		if (r < 0) {
			// Which of several files failed is what the user must fix.
			if (host_.failed_guest < count)
				throw SystemError(env, "ivshmem ack file " + paths[host_.failed_guest], r);
			throw SystemError(env, "ivshmem ack files", r);
		}
		r = rc_ivshmem_host_connect(&host_, server.c_str(), -1, timeout_ms);
		if (r < 0) {
			rc_ivshmem_host_close(&host_);
			throw SystemError(env, "ivshmem server " + server, r);
		}
		publisher_ = Napi::Persistent(publisher);
		live_ = true;
	}

	~IvshmemHost() override { Cleanup(); }

private:
	void Cleanup()
	{
		if (live_)
			rc_ivshmem_host_close(&host_);
		live_ = false;
		publisher_.Reset();
	}

	// service() -> { accepted: slot[], rejected: {slot, verdict, peer}[], dead: slot[],
	//               left: slot[], retryMs, peersGone: peer id[], error }
	// error: 0, or the errno that ended the server connection (then every
	// bound guest is in `dead`).
	Napi::Value Service(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		rc_ivshmem_service_result res{};
		int r = live_ ? rc_ivshmem_host_service(&host_, &res) : 0;
		Napi::Object out = Napi::Object::New(env);
		Napi::Array accepted = Napi::Array::New(env), rejected = Napi::Array::New(env), dead = Napi::Array::New(env),
			    left = Napi::Array::New(env);
		const uint8_t *ring = live_ ? host_.pub->ring : nullptr;

		for (uint32_t i = 0; live_ && i < host_.guests; i++) {
			uint64_t bit = 1ULL << i;
			if (res.accepted & bit)
				accepted.Set(accepted.Length(), i);
			if (res.dead & bit)
				dead.Set(dead.Length(), i);
			if (res.left & bit)
				left.Set(left.Length(), i);
			if (res.rejected & bit) {
				const rc_join_answer *a = rc_ring_join_answer_const(ring, i);
				Napi::Object o = Napi::Object::New(env);
				o.Set("slot", i);
				o.Set("verdict", a->verdict);
				o.Set("peer", static_cast<double>(__atomic_load_n(
					&static_cast<const rc_ack_page *>(host_.guest[i].ack.addr)->join_peer_id, __ATOMIC_RELAXED)));
				rejected.Set(rejected.Length(), o);
			}
		}
		out.Set("accepted", accepted);
		out.Set("rejected", rejected);
		out.Set("dead", dead);
		out.Set("left", left);
		out.Set("retryMs", res.retry_ms);
		Napi::Array peers_gone = Napi::Array::New(env, res.peers_gone_count);
		for (uint32_t k = 0; k < res.peers_gone_count; k++)
			peers_gone.Set(k, res.peers_gone[k]);
		out.Set("peersGone", peers_gone);
		out.Set("error", -r);
		return out;
	}

	// guests() -> [{ slot, peer (-1: none bound), joins, rejected }]
	Napi::Value Guests(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Array out = Napi::Array::New(env);
		for (uint32_t i = 0; live_ && i < host_.guests; i++) {
			const rc_ivshmem_host_guest &g = host_.guest[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("slot", i);
			o.Set("peer", g.bound_peer == RC_IVSHMEM_NO_PEER ? -1.0 : static_cast<double>(g.bound_peer));
			o.Set("joins", static_cast<double>(g.join.joins));
			o.Set("rejected", static_cast<double>(g.join.rejected));
			out.Set(i, o);
		}
		return out;
	}

	// backoff(slot, waitMs): that guest's joins are refused BACKOFF meanwhile.
	Napi::Value Backoff(const Napi::CallbackInfo &info)
	{
		if (live_)
			rc_ivshmem_host_backoff(&host_, info[0].As<Napi::Number>().Uint32Value(),
						info[1].As<Napi::Number>().Uint32Value());
		return info.Env().Undefined();
	}

	Napi::Value Heartbeat(const Napi::CallbackInfo &info)
	{
		if (live_)
			rc_ivshmem_host_heartbeat(&host_);
		return info.Env().Undefined();
	}

	Napi::Value Destroy(const Napi::CallbackInfo &info)
	{
		Cleanup();
		return info.Env().Undefined();
	}

	Napi::Value ServerFd(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? rc_ivshmem_host_server_fd(&host_) : -1);
	}

	Napi::Value DoorbellFd(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? rc_ivshmem_host_doorbell_fd(&host_) : -1);
	}

	Napi::Value HostPeer(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? static_cast<double>(host_.server.own_id) : -1.0);
	}

	rc_ivshmem_host host_{};
	Napi::ObjectReference publisher_;
	bool live_ = false;
};

// ---------------------------------------------------------------------------

class IvshmemSubscriber : public Napi::ObjectWrap<IvshmemSubscriber>, public SubscriberReads<IvshmemSubscriber> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		auto properties = ReadMethods();
		properties.push_back(InstanceMethod<&IvshmemSubscriber::JoinBegin>("joinBegin"));
		properties.push_back(InstanceMethod<&IvshmemSubscriber::JoinPoll>("joinPoll"));
		properties.push_back(InstanceMethod<&IvshmemSubscriber::Leave>("leave"));
		properties.push_back(InstanceMethod<&IvshmemSubscriber::PublisherGone>("publisherGone"));
		properties.push_back(InstanceMethod<&IvshmemSubscriber::Destroy>("destroy"));
		properties.push_back(InstanceAccessor<&IvshmemSubscriber::DoorbellFd>("doorbellFd"));
		properties.push_back(InstanceAccessor<&IvshmemSubscriber::LastVerdict>("lastVerdict"));
		return DefineClass(env, "IvshmemSubscriber", properties);
	}

	// new IvshmemSubscriber(ring, ack, doorbellDevice, serverSocket): exactly
	// one of the last two is a string. A doorbell device: a guest with the
	// kernel module; a server socket: plain files and the server's eventfds.
	IvshmemSubscriber(const Napi::CallbackInfo &info) : Napi::ObjectWrap<IvshmemSubscriber>(info)
	{
		Napi::Env env = info.Env();
		std::string ring = info[0].As<Napi::String>().Utf8Value();
		std::string ack = info[1].As<Napi::String>().Utf8Value();
		int r;
		if (info[2].IsString()) {
			std::string doorbell = info[2].As<Napi::String>().Utf8Value();
			r = rc_ivshmem_guest_open_devices(&g_, ring.c_str(), ack.c_str(), doorbell.c_str());
		} else {
			std::string server = info[3].As<Napi::String>().Utf8Value();
			r = rc_ivshmem_guest_open_files(&g_, ring.c_str(), ack.c_str(), server.c_str(), -1);
		}
		if (r < 0) {
			Napi::Error err = SystemError(env, "ivshmem region", r);
			err.Set("code", Napi::String::New(env, "ERR_RINGCAST_BAD_REGION"));
			throw err;
		}
		// From here ring_ owns the ring mapping, shared with the `data` views
		// handed to JS (SharedMapping); g_ keeps the ack page and descriptors.
		ring_ = new SharedMapping();
		ring_->map = g_.ring;
		live_ = true;
	}

	~IvshmemSubscriber() override { Cleanup(); }

private:
	void Cleanup()
	{
		if (!live_)
			return;
		live_ = false;
		// Still joined here means nobody called leave(): the environment is
		// being torn down (a terminated worker runs no JavaScript). A guest
		// has no socket whose closing frees its slot, so give it back now,
		// before the doorbells close.
		if (g_.joined)
			rc_ivshmem_guest_leave(&g_);
		// The ring stays mapped for views JS still holds; the rest goes now.
		g_.ring = rc_mapping{};
		rc_ivshmem_guest_close(&g_);
		ring_->Release();
		ring_ = nullptr;
	}

	bool Ready() const { return live_ && g_.joined; }

	friend class SubscriberReads<IvshmemSubscriber>;
	rc_subscriber *Reader() { return Ready() ? &g_.sub : nullptr; }
	int NotReady() const { return live_ ? RC_ESTATE : RC_ECLOSED; }
	SharedMapping *RingMapping() { return ring_; }
	void MoreInfo(Napi::Object &out)
	{
		out.Set("peer", g_.own_peer);
		out.Set("hostPeer", g_.host_peer);
	}

	// joinBegin() -> RC_OK (asked, host rung), RC_EAGAIN (host not there
	// yet), or a negative status / -errno.
	Napi::Value JoinBegin(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? rc_ivshmem_guest_join_begin(&g_) : RC_ECLOSED);
	}

	// joinPoll() -> RC_OK (attached), RC_EAGAIN (no answer yet), RC_EINVAL
	// (refused: lastVerdict says why).
	Napi::Value JoinPoll(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? rc_ivshmem_guest_join_poll(&g_) : RC_ECLOSED);
	}

	// leave(): gives the slot back at once (no answer awaited).
	Napi::Value Leave(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? rc_ivshmem_guest_leave(&g_) : RC_ECLOSED);
	}

	// publisherGone(nowMs, timeoutMs): its heartbeat stood still that long.
	Napi::Value PublisherGone(const Napi::CallbackInfo &info)
	{
		uint64_t now = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		uint64_t timeout = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
		return Napi::Boolean::New(info.Env(), Ready() && rc_ivshmem_guest_publisher_gone(&g_, now, timeout));
	}

	Napi::Value LastVerdict(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), g_.last_verdict);
	}

	Napi::Value Destroy(const Napi::CallbackInfo &info)
	{
		Cleanup();
		return info.Env().Undefined();
	}

	Napi::Value DoorbellFd(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), live_ ? g_.wait_fd : -1);
	}

	rc_ivshmem_guest g_{};
	SharedMapping *ring_ = nullptr;
	bool live_ = false;
};

Napi::Value RegionSize(const Napi::CallbackInfo &info)
{
	uint64_t capacity = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
	return Napi::Number::New(info.Env(), static_cast<double>(rc_ivshmem_region_size(capacity)));
}

} // namespace

void RegisterIvshmem(Napi::Env env, Napi::Object exports)
{
	Napi::Object c = exports.Get("constants").As<Napi::Object>();
	RC_EXPORT_CONSTANT(c, RC_JOIN_ACCEPTED);
	RC_EXPORT_CONSTANT(c, RC_JOIN_BAD_PEER);
	RC_EXPORT_CONSTANT(c, RC_JOIN_BACKOFF);
	RC_EXPORT_CONSTANT(c, RC_JOIN_BAD_ORDER);
	RC_EXPORT_CONSTANT(c, RC_JOIN_CLOSED);
	RC_EXPORT_CONSTANT(c, RC_JOIN_LEFT);
	RC_EXPORT_CONSTANT(c, RC_IVSHMEM_MAX_PEER_ID);
	RC_EXPORT_CONSTANT(c, RC_IVSHMEM_VECTOR);
	exports.Set("IvshmemHost", IvshmemHost::Define(env));
	exports.Set("IvshmemSubscriber", IvshmemSubscriber::Define(env));
	exports.Set("ivshmemRegionSize", Napi::Function::New(env, RegionSize));
}
