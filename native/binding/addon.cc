// SPDX-License-Identifier: MIT
//
// Thin node-addon-api binding over the C core. Its objects own the mappings
// and descriptors; every protocol decision lives in native/src. One crossing
// per batch, never per message: reserveBatch reserves many records, which
// JavaScript fills, and commit publishes them at once (offerBatch writes
// many larger ones and commits once); the reads (subscriber_reads.h) fill a caller-supplied
// Float64Array of (offset, length, flags, seq) quadruples.
//
// Lifetimes: a ring mapping is shared by the Publisher or Subscriber that
// made it and by every `data` ArrayBuffer handed to JS (SharedMapping in
// subscriber_reads.h), so a view kept past destroy() never points at
// unmapped memory. Ack pages and descriptors belong to their object alone
// and go with destroy() or collection.
//
// No static JS state: classes are defined per environment, so the addon is
// safe to load in several worker threads at once.

#include <napi.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "control.h" // RegisterControl: the control-message codec
#include "export_constant.h" // RC_EXPORT_CONSTANT
#include "message_bytes.h" // MessageBytes: one typed-array lookup per message
#include "subscriber_reads.h" // SubscriberReads, SharedMapping, the batch shape
#include "publisher_writes.h" // PublisherWrites: what every publisher object shares
#include "ivshmem.h" // RegisterIvshmem: the ivshmem provider
#include "xen.h" // RegisterXen: the Xen provider; DrainEvtchn
#include "ring_snapshot.h" // DescribeRing: what stat shows of a descriptor

extern "C" {
#include "rc_ivshmem.h"
#include "rc_memfd.h"
#include "rc_unix.h"
#include "ringcast.h"
}

namespace {

// Descriptors this environment's JavaScript holds as plain numbers: sockets
// from listen/connect/accept and descriptors received with SCM_RIGHTS, until
// closeFd() or a native object adopts them. A worker thread that is
// terminated runs no JavaScript to close them, so the environment's cleanup
// hook does: its peers see the connection end (and free its slot) as they do
// when a process exits. Each environment is used by its own thread only; the
// map from environment to set is shared by all of them, hence the mutex.
class HeldFds {
public:
	static void Track(napi_env env)
	{
		auto *held = new HeldFds();
		{
			std::lock_guard<std::mutex> lock(mutex_);
			by_env_[env] = held;
		}
		napi_add_env_cleanup_hook(env, CloseAll, env);
	}

	static void Add(napi_env env, int fd)
	{
		if (HeldFds *held = Of(env))
			held->fds_.insert(fd);
	}

	// closeFd() closed it, or a native object took ownership.
	static void Forget(napi_env env, int fd)
	{
		if (HeldFds *held = Of(env))
			held->fds_.erase(fd);
	}

private:
	static HeldFds *Of(napi_env env)
	{
		std::lock_guard<std::mutex> lock(mutex_);
		auto it = by_env_.find(env);
		return it == by_env_.end() ? nullptr : it->second;
	}

	static void CloseAll(void *arg)
	{
		napi_env env = static_cast<napi_env>(arg);
		HeldFds *held;
		{
			std::lock_guard<std::mutex> lock(mutex_);
			auto it = by_env_.find(env);
			if (it == by_env_.end())
				return;
			held = it->second;
			by_env_.erase(it);
		}
		for (int fd : held->fds_)
			close(fd);
		delete held;
	}

	std::unordered_set<int> fds_;
	static std::mutex mutex_;
	static std::unordered_map<napi_env, HeldFds *> by_env_;
};

std::mutex HeldFds::mutex_;
std::unordered_map<napi_env, HeldFds *> HeldFds::by_env_;

Napi::Error ErrnoError(Napi::Env env, const char *what, int negative_errno)
{
	std::string msg = std::string(what) + ": " + std::strerror(-negative_errno);
	Napi::Error err = Napi::Error::New(env, msg);
	err.Set("errno", Napi::Number::New(env, -negative_errno));
	err.Set("code", Napi::String::New(env, "ERR_RINGCAST_SYSTEM"));
	return err;
}

void CloseFd(int &fd)
{
	if (fd >= 0)
		close(fd);
	fd = -1;
}

// ---------------------------------------------------------------------------

class Publisher : public Napi::ObjectWrap<Publisher>, public PublisherWrites<Publisher> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		auto properties = WriteMethods();
		properties.push_back(InstanceMethod<&Publisher::Attach>("attach"));
		properties.push_back(InstanceMethod<&Publisher::Detach>("detach"));
		properties.push_back(InstanceMethod<&Publisher::HandedOver>("handedOver"));
		properties.push_back(InstanceMethod<&Publisher::Destroy>("destroy"));
		properties.push_back(InstanceMethod<&Publisher::CoreExternal>("_core"));
		properties.push_back(InstanceAccessor<&Publisher::RingFd>("ringFd"));
		return DefineClass(env, "Publisher", properties);
	}

	// new Publisher(capacity, maxPayload, policy, busIdHi, busIdLo, features[, ringFile, fileMode[, maxMessage[, mixed]]])
	// mixed: the ring serves local processes too, so it is a sealed memfd
	// (what they verify) and ringFile becomes QEMU's way to it.
	Publisher(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Publisher>(info)
	{
		Napi::Env env = info.Env();
		uint64_t capacity = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
		uint32_t max_payload = info[1].As<Napi::Number>().Uint32Value();
		uint32_t policy = info[2].As<Napi::Number>().Uint32Value();
		uint64_t bus_id = (static_cast<uint64_t>(info[3].As<Napi::Number>().Uint32Value()) << 32) |
				  info[4].As<Napi::Number>().Uint32Value();
		int r;

		shared_ = new SharedMapping();
		bool mixed = info[9].IsBoolean() && info[9].As<Napi::Boolean>().Value();
		if (info[6].IsString() && mixed) {
			// A mixed bus (docs/vm.md): one sealed memfd, sized for a PCI BAR,
			// handed to local subscribers as usual; ringFile links to it for QEMU.
			ring_link_ = info[6].As<Napi::String>().Utf8Value();
			r = rc_ring_memfd_create(rc_ivshmem_region_size(capacity), &ring_fd_, &ring_ro_fd_, &shared_->map);
			if (r >= 0 && (r = rc_ivshmem_ring_link(ring_link_.c_str(), ring_ro_fd_)) < 0) {
				ring_link_.clear();
				Cleanup();
				throw ErrnoError(env, "ring file link", r);
			}
		} else if (info[6].IsString()) {
			// The ivshmem provider (native/binding/ivshmem.cc): the ring lives in
			// the file QEMU maps for guests, sized to a power of two; no memfd.
			std::string ring_file = info[6].As<Napi::String>().Utf8Value();
			unsigned mode = info[7].IsNumber() ? info[7].As<Napi::Number>().Uint32Value() : 0600;
			r = rc_ivshmem_ring_file_create(ring_file.c_str(), rc_ivshmem_region_size(capacity), mode,
							&shared_->map);
		} else {
			r = rc_ring_memfd_create(rc_ring_size(capacity), &ring_fd_, &ring_ro_fd_, &shared_->map);
		}
		if (r < 0) {
			Cleanup();
			// An ivshmem ring file is a path the user chose: name it.
			std::string what = info[6].IsString() ? "ivshmem ring file " + info[6].As<Napi::String>().Utf8Value()
							      : std::string("ring memfd");
			throw ErrnoError(env, what.c_str(), r);
		}
		uint32_t features = info[5].IsNumber() ? info[5].As<Napi::Number>().Uint32Value() : 0;
		r = rc_ring_format(shared_->map.addr, capacity, max_payload, policy, bus_id,
				   static_cast<uint32_t>(getpid()));
		if (r == RC_OK)
			r = rc_ring_set_features(shared_->map.addr, features);
		if (r == RC_OK && info[8].IsNumber())
			r = rc_ring_set_max_message(shared_->map.addr, static_cast<uint64_t>(info[8].As<Napi::Number>().DoubleValue()));
		if (r == RC_OK)
			r = rc_pub_init(&pub_, shared_->map.addr, rc_ring_size(capacity));
		if (r != RC_OK) {
			Cleanup();
			Napi::Error err = Napi::RangeError::New(env, "invalid ring geometry");
			err.Set("code", Napi::String::New(env, "ERR_RINGCAST_INVALID_OPTION"));
			throw err;
		}
		for (auto &slot : slots_)
			slot = SlotResources{};
		live_ = true;
	}

	~Publisher() override { Cleanup(); }

private:
	struct SlotResources {
		rc_mapping ack{};
		int ack_fd = -1;
		int doorbell_fd = -1; /* publisher -> subscriber */
		int wake_fd = -1;     /* subscriber -> publisher: one per subscriber, so
		                       * none can swallow the wake-ups of another */
	};

	void Cleanup()
	{
		for (auto &slot : slots_)
			ReleaseSlot(slot);
		if (!ring_link_.empty())
			rc_ivshmem_ring_unlink(ring_link_.c_str(), ring_ro_fd_);
		ring_link_.clear();
		CloseFd(ring_fd_);
		CloseFd(ring_ro_fd_);
		if (shared_)
			shared_->Release();
		shared_ = nullptr;
		live_ = false;
	}

	void ReleaseSlot(SlotResources &slot)
	{
		rc_unmap(&slot.ack);
		CloseFd(slot.ack_fd);
		CloseFd(slot.doorbell_fd);
		CloseFd(slot.wake_fd);
	}

	// attach(pid, uid) -> { slot, generation, ackFd, doorbellFd, wakeFd } or
	// null when full.
	// The ack page is formatted here, then mapped read-only: from now on it is
	// the subscriber's memory and hostile input to us.
	Napi::Value Attach(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Live(env);
		uint32_t pid = info[0].As<Napi::Number>().Uint32Value();
		uint32_t uid = info[1].As<Napi::Number>().Uint32Value();
		int slot = rc_pub_free_slot(&pub_);
		if (slot < 0)
			return env.Null();
		SlotResources &res = slots_[slot];
		ReleaseSlot(res);
		int r = rc_ack_memfd_create(RC_ACK_PAGE_SIZE, &res.ack_fd, &res.ack);
		if (r >= 0) {
			res.doorbell_fd = rc_eventfd_create();
			r = res.doorbell_fd < 0 ? res.doorbell_fd : 0;
		}
		if (r >= 0) {
			res.wake_fd = rc_eventfd_create();
			r = res.wake_fd < 0 ? res.wake_fd : 0;
		}
		if (r < 0) {
			ReleaseSlot(res);
			throw ErrnoError(env, "ack page", r);
		}
		uint64_t generation = 0;
		rc_ack_page_format(res.ack.addr, &pub_, slot, Mirror(slot)->generation + 1);
		if ((r = rc_map_protect_readonly(&res.ack)) < 0) {
			ReleaseSlot(res);
			throw ErrnoError(env, "ack page protect", r);
		}
		rc_pub_attach(&pub_, slot, static_cast<const rc_ack_page *>(res.ack.addr), res.doorbell_fd,
			      pid, uid, &generation);
		Napi::Object out = Napi::Object::New(env);
		out.Set("slot", slot);
		out.Set("generation", static_cast<double>(generation));
		out.Set("ackFd", res.ack_fd);
		out.Set("doorbellFd", res.doorbell_fd);
		out.Set("wakeFd", res.wake_fd);
		return out;
	}

	// handedOver(slot): the welcome carrying the slot's ack page descriptor
	// was sent. Our copy of the descriptor goes now: while we held it, any
	// process of our uid could reopen it read-write through
	// /proc/<our pid>/fd and forge this subscriber's ack. The read-only
	// mapping stays (docs/security.md, "Same uid").
	Napi::Value HandedOver(const Napi::CallbackInfo &info)
	{
		uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
		if (slot < RC_MAX_SUBSCRIBERS)
			CloseFd(slots_[slot].ack_fd);
		return info.Env().Undefined();
	}

	Napi::Value Detach(const Napi::CallbackInfo &info)
	{
		uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
		uint32_t reason = info[1].As<Napi::Number>().Uint32Value();
		if (!live_ || slot >= RC_MAX_SUBSCRIBERS)
			return info.Env().Undefined();
		rc_pub_detach(&pub_, slot, reason);
		ReleaseSlot(slots_[slot]);
		return info.Env().Undefined();
	}

	Napi::Value Destroy(const Napi::CallbackInfo &info)
	{
		this->RevokeCopyTarget(info.Env());
		Cleanup();
		return info.Env().Undefined();
	}

	// _core() -> the C publisher, for the ivshmem host (ivshmem.cc). The host
	// keeps this object from being collected, but destroy() here may unmap
	// the ring under it: the host must be destroyed first.
	Napi::Value CoreExternal(const Napi::CallbackInfo &info)
	{
		Live(info.Env());
		return Napi::External<rc_publisher>::New(info.Env(), &pub_);
	}

	Napi::Value RingFd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), ring_ro_fd_); }

	friend class PublisherWrites<Publisher>;
	rc_publisher *Core() { return &pub_; }
	bool IsLive() const { return live_; }
	SharedMapping *RingMapping() { return shared_; }

	rc_publisher pub_{};
	SharedMapping *shared_ = nullptr;
	SlotResources slots_[RC_MAX_SUBSCRIBERS];
	int ring_fd_ = -1;
	int ring_ro_fd_ = -1;
	std::string ring_link_; /* mixed bus: the link QEMU opens (removed at close) */
	bool live_ = false;
};

// ---------------------------------------------------------------------------

class Subscriber : public Napi::ObjectWrap<Subscriber>, public SubscriberReads<Subscriber> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		auto properties = ReadMethods();
		properties.push_back(InstanceMethod<&Subscriber::Destroy>("destroy"));
		properties.push_back(InstanceAccessor<&Subscriber::DoorbellFd>("doorbellFd"));
		properties.push_back(InstanceMethod<&Subscriber::WaitSync>("waitSync"));
		properties.push_back(InstanceMethod<&Subscriber::WaitSyncFunction>("waitSyncFunction"));
		return DefineClass(env, "Subscriber", properties);
	}

	// new Subscriber(ringFd, ackFd, doorbellFd, publisherDoorbellFd): takes
	// ownership of the four descriptors, verifies them, maps the memory.
	Subscriber(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Subscriber>(info)
	{
		Napi::Env env = info.Env();
		ring_fd_ = info[0].As<Napi::Number>().Int32Value();
		ack_fd_ = info[1].As<Napi::Number>().Int32Value();
		doorbell_fd_ = info[2].As<Napi::Number>().Int32Value();
		pub_doorbell_fd_ = info[3].As<Napi::Number>().Int32Value();
		for (int fd : { ring_fd_, ack_fd_, doorbell_fd_, pub_doorbell_fd_ })
			HeldFds::Forget(env, fd); // ours now, closed by Cleanup()
		try {
			Open(env);
		} catch (...) {
			Cleanup();
			throw;
		}
	}

	~Subscriber() override
	{
		UnbindSelf(wait_bound_);
		Cleanup();
	}

private:
	void Open(Napi::Env env)
	{
		// The memfd's size is fixed by its seals (checked here), so mapping it
		// whole cannot SIGBUS later; the core then checks the descriptor's
		// own sizes against that mapping.
		int r = rc_memfd_verify(ack_fd_, RC_ACK_PAGE_SIZE, 0);
		if (r < 0)
			throw Refused(env, "ack page descriptor", r, rc_memfd_problem(r));
		if ((r = rc_eventfd_verify(doorbell_fd_)) < 0 || (r = rc_eventfd_verify(pub_doorbell_fd_)) < 0)
			throw Refused(env, "doorbell descriptor", r, rc_eventfd_problem(r));
		off_t end = lseek(ring_fd_, 0, SEEK_END);
		if (end < static_cast<off_t>(RC_DESC_SIZE + RC_MIN_CAPACITY) ||
		    static_cast<uint64_t>(end) > rc_ring_size(RC_MAX_CAPACITY))
			throw Refused(env, "ring descriptor", -EMSGSIZE);
		r = rc_memfd_verify(ring_fd_, static_cast<uint64_t>(end), F_SEAL_GROW);
		if (r < 0)
			throw Refused(env, "ring descriptor", r, rc_memfd_problem(r));
		shared_ = new SharedMapping();
		if ((r = rc_map(ring_fd_, static_cast<uint64_t>(end), 0, &shared_->map)) < 0)
			throw ErrnoError(env, "map ring", r);
		if ((r = rc_map(ack_fd_, RC_ACK_PAGE_SIZE, 1, &ack_)) < 0)
			throw ErrnoError(env, "map ack page", r);
		// The mapping is all we need: a descriptor kept open could be
		// reopened read-write through /proc/<our pid>/fd by any process of
		// our uid, which could then forge our ack.
		CloseFd(ack_fd_);
		// The region may be larger than the ring (a mixed bus's is sized for
		// a PCI BAR): the ring is what its descriptor says, if the mapping holds it.
		r = rc_sub_init(&sub_, shared_->map.addr, rc_ring_size_in(shared_->map.addr, shared_->map.size), ack_.addr,
				ack_.size, pub_doorbell_fd_);
		if (r != RC_OK)
			throw Refused(env, "ring layout", -EPROTO);
		live_ = true;
	}

	// `problem`: what was wrong in words ("not an eventfd"); the errno's
	// text follows in parentheses.
	Napi::Error Refused(Napi::Env env, const char *what, int negative_errno, const char *problem = nullptr)
	{
		std::string described = problem ? std::string(what) + ": " + problem + " (" + std::strerror(-negative_errno) + ")" : what;
		Napi::Error err = problem ? Napi::Error::New(env, described) : ErrnoError(env, what, negative_errno);
		if (problem)
			err.Set("errno", Napi::Number::New(env, -negative_errno));
		err.Set("code", Napi::String::New(env, "ERR_RINGCAST_BAD_REGION"));
		return err;
	}

	void Cleanup()
	{
		live_ = false;
		rc_unmap(&ack_);
		if (shared_)
			shared_->Release();
		shared_ = nullptr;
		CloseFd(ring_fd_);
		CloseFd(ack_fd_);
		CloseFd(wait_set_fd_);
		CloseFd(doorbell_fd_);
		CloseFd(pub_doorbell_fd_);
	}

	friend class SubscriberReads<Subscriber>;
	rc_subscriber *Reader() { return live_ ? &sub_ : nullptr; }
	int NotReady() const { return RC_ECLOSED; }
	SharedMapping *RingMapping() { return shared_; }
	void MoreInfo(Napi::Object &) {}

	Napi::Value DoorbellFd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), doorbell_fd_); }

	// Announce(true): the ring a leaveRung watcher left in our eventfd.
	void ClearDoorbell() { rc_eventfd_drain(doorbell_fd_); }

	// waitSync(timeoutMs, controlFd) -> 0 if it timed out, 1 if something
	// may be ready to read (or to report: the end, an eviction), 2 if the
	// control socket has something (a message, or the publisher's end of it
	// closed): only the event loop reads that, 3 if the doorbell rang: read
	// again. Blocks the calling thread in epoll_wait() on our doorbell and
	// the control socket, with the core's sleep protocol ([S5]: announce,
	// re-check, sleep; the publisher rings only an announced sleeper), as
	// the C core's own reader sleeps in read(): the kernel wakes this thread
	// directly, with no event loop, callback or promise between the doorbell
	// and the read. timeoutMs < 0: no limit.
	//
	// One system call per wait, as the C core's read(): the epoll set
	// (WaitSet) is made once, and it watches the doorbell edge-triggered, so
	// a ring wakes one wait and is never read out of the eventfd here. The
	// count left there is for the event loop's next announcement to clear
	// (sleep(true)), as FdWatcher's leaveRung leaves it. With poll() every
	// wait cleared the ring with a read() first (poll() sees a count left as
	// readable) and registered on both descriptors anew (docs/protocol.md,
	// "Sleeping and waking", for what that cost). The control socket stays
	// level-triggered: what the event loop has not read yet ends every wait
	// until it does.
	Napi::Value WaitSync(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), Wait(info));
	}

	// waitSyncFunction() -> waitSync, bound to this object (bound_self.h):
	// recvSync() calls it on every wait, without an unwrap.
	Napi::Value WaitSyncFunction(const Napi::CallbackInfo &info)
	{
		return BindFunction<Subscriber, &Subscriber::WaitSyncBound>(info.Env(), wait_bound_, this, "waitSync");
	}

	static Napi::Value WaitSyncBound(const Napi::CallbackInfo &info)
	{
		Subscriber *self = BoundObject<Subscriber>(info);
		return Napi::Number::New(info.Env(), self ? self->Wait(info) : 1);
	}

	int Wait(const Napi::CallbackInfo &info)
	{
		int timeout_ms = info[0].As<Napi::Number>().Int32Value();
		int control_fd = info[1].As<Napi::Number>().Int32Value();
		if (!live_)
			return 1;
		WaitSet(info.Env(), control_fd);
		if (!rc_sub_prepare_wait(&sub_))
			return 1;
		struct epoll_event events[2];
		int r = epoll_wait(wait_set_fd_, events, 2, timeout_ms);
		rc_sub_end_wait(&sub_);
		// EINTR (a signal for this thread) counts as a wake-up: the caller looks again.
		if (r <= 0)
			return r == 0 ? 0 : 1;
		for (int i = 0; i < r; i++)
			if (events[i].data.fd == doorbell_fd_)
				return 3;
		return 2;
	}

	// The epoll set waitSync sleeps in: the doorbell (edge-triggered) and
	// `control_fd` (level-triggered; < 0: none), made on first use and kept.
	// A reader has one control socket (a new connection brings a new reader,
	// subscriber.ts #adopt); another one given replaces the one watched.
	void WaitSet(Napi::Env env, int control_fd)
	{
		if (wait_set_fd_ < 0) {
			int set = epoll_create1(EPOLL_CLOEXEC);
			struct epoll_event doorbell = {};
			doorbell.events = EPOLLIN | EPOLLET;
			doorbell.data.fd = doorbell_fd_;
			if (set < 0 || epoll_ctl(set, EPOLL_CTL_ADD, doorbell_fd_, &doorbell) < 0) {
				int err = errno;
				CloseFd(set);
				throw ErrnoError(env, "recvSync: epoll set", -err);
			}
			wait_set_fd_ = set;
		}
		if (control_fd == wait_control_fd_)
			return;
		// The old socket may be closed already (which took it out of the set): a failed delete is fine.
		if (wait_control_fd_ >= 0)
			epoll_ctl(wait_set_fd_, EPOLL_CTL_DEL, wait_control_fd_, nullptr);
		wait_control_fd_ = -1;
		if (control_fd < 0)
			return;
		struct epoll_event control = {};
		control.events = EPOLLIN | EPOLLRDHUP;
		control.data.fd = control_fd;
		if (epoll_ctl(wait_set_fd_, EPOLL_CTL_ADD, control_fd, &control) < 0)
			throw ErrnoError(env, "recvSync: watch the control socket", -errno);
		wait_control_fd_ = control_fd;
	}

	Napi::Value Destroy(const Napi::CallbackInfo &info)
	{
		Cleanup();
		return info.Env().Undefined();
	}

	rc_subscriber sub_{};
	SharedMapping *shared_ = nullptr;
	rc_mapping ack_{};
	int ring_fd_ = -1;
	int ack_fd_ = -1;
	int doorbell_fd_ = -1;
	int pub_doorbell_fd_ = -1;
	bool live_ = false;
	BoundSelf<Subscriber> *wait_bound_ = nullptr;
	int wait_set_fd_ = -1; /* waitSync's epoll set (WaitSet) */
	int wait_control_fd_ = -1; /* the control socket in it */
};

// ---------------------------------------------------------------------------

// Watches a descriptor with libuv so waiting never blocks the event loop.
// For doorbells (an eventfd, or Xen's event-channel device) it clears what
// rang before calling back: both stay readable until cleared.
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
public:
	enum Doorbell { kNone = 0, kEventfd = 1, kEvtchn = 2 };

	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "FdWatcher", {
			InstanceMethod<&FdWatcher::Start>("start"),
			InstanceMethod<&FdWatcher::SleepFunction>("sleepFunction"),
			InstanceMethod<&FdWatcher::Stop>("stop"),
			InstanceMethod<&FdWatcher::Close>("close"),
		});
	}

	// new FdWatcher(fd, doorbell, callback, { oneShot, leaveRung, holds }?):
	// doorbell is false (a socket), true (an eventfd) or DOORBELL_EVTCHN
	// (/dev/xen/evtchn).
	// - oneShot: the watcher pauses itself before it calls back, as stop()
	//   would: a waiter woken once waits again with start(), and the wake-up
	//   spends no call back into the addon on the way to the reader's code.
	// - leaveRung (an eventfd): a ring that wakes a waiter is left in the
	//   eventfd, and the waiter's next announcement clears it (a
	//   subscriber's sleep(true)), after its reader has taken the
	//   message and answered: the read() is off the path from the ring to
	//   the reader. A ring while nobody waits is cleared here, at once.
	// - holds: an object kept reachable while the watcher is started (a weak
	//   reference otherwise): whoever awaits a wait on it hangs off that
	//   object alone (src/leaks.ts), at no cost beyond start() and the pause.
	//   The callback gets it as its argument (a one-shot watcher calls back
	//   only while started, so it is there): a callback that must not
	//   capture its owner needs no WeakRef, whose deref() costs a runtime
	//   call per wake-up (JSWeakRefAddToKeptObjects, about 400 instructions).
	// Without `holds` the callback gets no argument.
	FdWatcher(const Napi::CallbackInfo &info) : Napi::ObjectWrap<FdWatcher>(info)
	{
		Napi::Env env = info.Env();
		fd_ = info[0].As<Napi::Number>().Int32Value();
		if (info[1].IsNumber())
			doorbell_ = info[1].As<Napi::Number>().Int32Value() == kEvtchn ? kEvtchn : kNone;
		else
			doorbell_ = info[1].As<Napi::Boolean>().Value() ? kEventfd : kNone;
		callback_ = Napi::Persistent(info[2].As<Napi::Function>());
		if (info.Length() > 3 && info[3].IsObject()) {
			Napi::Object options = info[3].As<Napi::Object>();
			one_shot_ = options.Get("oneShot").ToBoolean().Value();
			leave_rung_ = doorbell_ == kEventfd && options.Get("leaveRung").ToBoolean().Value();
			Napi::Value holds = options.Get("holds");
			if (holds.IsObject())
				held_ = Napi::Weak(holds.As<Napi::Object>());
		}
		uv_loop_t *loop = nullptr;
		if (napi_get_uv_event_loop(env, &loop) != napi_ok)
			throw Napi::Error::New(env, "no event loop");
		handle_ = new uv_poll_t;
		if (uv_poll_init(loop, handle_, fd_) != 0) {
			delete handle_;
			handle_ = nullptr;
			throw Napi::Error::New(env, "uv_poll_init failed");
		}
		handle_->data = this;
	}

	~FdWatcher() override
	{
		UnbindSelf(bound_self_);
		CloseHandle();
	}

private:
	static void OnEvent(uv_poll_t *handle, int, int)
	{
		FdWatcher *self = static_cast<FdWatcher *>(handle->data);
		if (!self)
			return;
		// Level-triggered: a ring left for the waiter (leave_rung_) keeps the
		// descriptor readable until its next announcement clears it; if the
		// loop polls again first, nobody waits and this clears it.
		if (self->doorbell_ == kEventfd && !(self->leave_rung_ && self->active_))
			rc_eventfd_drain(self->fd_);
		else if (self->doorbell_ == kEvtchn)
			DrainEvtchn(self->fd_);
		// A paused doorbell: a ring meant for an earlier wait (a waiter
		// announces itself, re-checks and starts the watcher before the loop
		// can poll again, so no ring for the coming wait lands here).
		if (!self->active_)
			return;
		// One-shot: paused, but what it holds stays held through the callback
		// (a collection as the callback starts must not clear it), and is let
		// go after it unless the callback started a new wait (its own Ref).
		bool release_held = self->one_shot_ && !self->held_.IsEmpty();
		if (self->one_shot_)
			self->Pause(false);
		self->CallBack();
		// close() in the callback reset it.
		if (release_held && !self->held_.IsEmpty())
			self->held_.Unref();
	}

	// The callback, with what the watcher holds as its argument, as Node
	// calls back from its own handles (napi_make_callback, in a callback
	// scope): process.nextTick callbacks and promise reactions it queued run
	// before this returns. A read it resolves resumes its awaiting code here,
	// from the wake-up, and that code's answer goes out before the loop
	// moves on; with napi_call_function they waited for the loop's check
	// phase (Node drains microtasks there, after the rest of this poll's
	// events), about 900 instructions further from the doorbell
	// (bench/woken-split.mjs). No async context of its own (null: the
	// empty one, as the check phase's scope has): with one per watcher
	// (napi_async_init), workers terminated while their reads were being
	// woken and rejoined aborted the process in a third of the runs
	// ("terminate called after throwing an instance of 'Napi::Error'"),
	// none without. The callback is its own `this`
	// (napi_make_callback wants an object; every callback is an arrow
	// function). Plain napi calls in one handle scope: FunctionReference's
	// calls add an escapable scope for a result nobody reads, and throw.
	void CallBack()
	{
		napi_env env = Env();
		Napi::HandleScope scope(env);
		napi_value fn, result;
		napi_value held = nullptr;
		size_t argc = 0;
		napi_get_reference_value(env, callback_, &fn);
		if (!held_.IsEmpty()) {
			napi_get_reference_value(env, held_, &held);
			argc = held ? 1 : 0;
		}
		if (fn && napi_make_callback(env, nullptr, fn, fn, argc, &held, &result) == napi_pending_exception) {
			// An exception thrown by the JS callback is not ours to swallow.
			napi_value error;
			napi_get_and_clear_last_exception(env, &error);
			napi_fatal_exception(env, error);
		}
	}

	Napi::Value Start(const Napi::CallbackInfo &info)
	{
		StartWatching();
		return info.Env().Undefined();
	}

	// sleepFunction(reader.announcer()) -> sleep(clearRing): the reader's
	// announcement (clearRing: clear a left ring first) and, if that
	// announced the wait, this watcher's start, in one call (announcer.h):
	// what every wait of a subscriber calls (one napi call, about 350
	// instructions, fewer than an announcement and a start apart). true:
	// asleep; false: something is there, or the reader is gone.
	struct SleepBinding {
		Announcer announcer;
		BoundSelf<FdWatcher> *watcher;
	};

	Napi::Value SleepFunction(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!info[0].IsExternal())
			throw Napi::TypeError::New(env, "sleepFunction(announcer): a reader's announcer()");
		const Announcer &announcer = *info[0].As<Napi::External<Announcer>>().Data();
		if (!bound_self_)
			bound_self_ = new BoundSelf<FdWatcher>{this, 1};
		bound_self_->refs++;
		announcer.ref(announcer.bound);
		auto *binding = new SleepBinding{announcer, bound_self_};
		Napi::Function fn = Napi::Function::New<&FdWatcher::SleepBound>(env, "sleep", binding);
		fn.AddFinalizer(
			[](Napi::Env, SleepBinding *b) {
				b->announcer.unref(b->announcer.bound);
				b->watcher->Unref();
				delete b;
			},
			binding);
		return fn;
	}

	static Napi::Value SleepBound(const Napi::CallbackInfo &info)
	{
		auto *binding = static_cast<SleepBinding *>(info.Data());
		bool clear_ring = info.Length() > 0 && info[0].ToBoolean().Value();
		bool announced = binding->announcer.announce(binding->announcer.bound, clear_ring);
		if (announced)
			if (FdWatcher *self = binding->watcher->self)
				self->StartWatching();
		return Napi::Boolean::New(info.Env(), announced);
	}

	void StartWatching()
	{
		if (handle_ && !active_) {
			if (polling_) {
				uv_ref(reinterpret_cast<uv_handle_t *>(handle_));
			} else {
				uv_poll_start(handle_, UV_READABLE | UV_DISCONNECT, OnEvent);
				polling_ = true;
			}
			active_ = true;
			if (!held_.IsEmpty())
				held_.Ref();
		}
	}

	// A doorbell is only paused: it stays in the loop's epoll set,
	// unreferenced, so a wait costs no epoll_ctl on the way in and out (three
	// per wait before, on a round trip of a few microseconds).
	Napi::Value Stop(const Napi::CallbackInfo &info)
	{
		Pause();
		return info.Env().Undefined();
	}

	// release_held: let go of options.holds (false: the caller does, later).
	void Pause(bool release_held = true)
	{
		if (handle_ && active_) {
			if (doorbell_ != kNone) {
				uv_unref(reinterpret_cast<uv_handle_t *>(handle_));
			} else {
				uv_poll_stop(handle_);
				polling_ = false;
			}
			active_ = false;
			if (release_held && !held_.IsEmpty())
				held_.Unref();
		}
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		CloseHandle();
		callback_.Reset();
		held_.Reset();
		return info.Env().Undefined();
	}

	void CloseHandle()
	{
		if (!handle_)
			return;
		handle_->data = nullptr;
		uv_poll_stop(handle_);
		uv_close(reinterpret_cast<uv_handle_t *>(handle_),
			 [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
		handle_ = nullptr;
		active_ = false;
		polling_ = false;
	}

	Napi::FunctionReference callback_;
	BoundSelf<FdWatcher> *bound_self_ = nullptr;
	// held_: strong while active_, weak otherwise (options.holds).
	Napi::ObjectReference held_;
	uv_poll_t *handle_ = nullptr;
	int fd_ = -1;
	Doorbell doorbell_ = kNone;
	// active_: started and not stopped (callbacks delivered, loop kept alive);
	// polling_: registered with the loop (a paused doorbell still is).
	bool active_ = false;
	bool polling_ = false;
	// one_shot_: paused before each callback (start() again to wait again).
	bool one_shot_ = false;
	// leave_rung_: a ring that wakes a waiter is cleared by its next announcement, not here.
	bool leave_rung_ = false;
};

// ---------------------------------------------------------------------------
// Control-plane functions: thin wrappers over rc_unix.

Napi::Value UnixListen(const Napi::CallbackInfo &info)
{
	std::string path = info[0].As<Napi::String>().Utf8Value();
	int fd = rc_unix_listen(path.c_str(), info[1].As<Napi::Number>().Int32Value());
	if (fd < 0)
		throw ErrnoError(info.Env(), ("listen " + path).c_str(), fd);
	HeldFds::Add(info.Env(), fd);
	return Napi::Number::New(info.Env(), fd);
}

Napi::Value UnixConnect(const Napi::CallbackInfo &info)
{
	std::string path = info[0].As<Napi::String>().Utf8Value();
	int fd = rc_unix_connect(path.c_str());
	if (fd < 0)
		throw ErrnoError(info.Env(), ("connect " + path).c_str(), fd);
	HeldFds::Add(info.Env(), fd);
	return Napi::Number::New(info.Env(), fd);
}

Napi::Object PeerObject(Napi::Env env, int fd, const rc_peer &peer)
{
	Napi::Object out = Napi::Object::New(env);
	out.Set("fd", fd);
	out.Set("pid", peer.pid);
	out.Set("uid", peer.uid);
	out.Set("gid", peer.gid);
	return out;
}

Napi::Value UnixAccept(const Napi::CallbackInfo &info)
{
	rc_peer peer{};
	int fd = rc_unix_accept(info[0].As<Napi::Number>().Int32Value(), &peer);
	if (fd == -EAGAIN)
		return info.Env().Null();
	if (fd < 0)
		throw ErrnoError(info.Env(), "accept", fd);
	HeldFds::Add(info.Env(), fd);
	return PeerObject(info.Env(), fd, peer);
}

Napi::Value PeerCredentials(const Napi::CallbackInfo &info)
{
	rc_peer peer{};
	int fd = info[0].As<Napi::Number>().Int32Value();
	int r = rc_peer_credentials(fd, &peer);
	if (r < 0)
		throw ErrnoError(info.Env(), "SO_PEERCRED", r);
	return PeerObject(info.Env(), fd, peer);
}

Napi::Value UnixSend(const Napi::CallbackInfo &info)
{
	int fd = info[0].As<Napi::Number>().Int32Value();
	Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
	Napi::Array fd_list = info[2].As<Napi::Array>();
	int fds[RC_MAX_FDS_PER_MESSAGE];
	int nfds = static_cast<int>(fd_list.Length());
	if (nfds > RC_MAX_FDS_PER_MESSAGE)
		throw Napi::RangeError::New(info.Env(), "too many descriptors");
	for (int i = 0; i < nfds; i++)
		fds[i] = fd_list.Get(i).As<Napi::Number>().Int32Value();
	int r = rc_unix_send(fd, data.Data(), data.ByteLength(), fds, nfds);
	if (r < 0)
		throw ErrnoError(info.Env(), "send", r);
	return info.Env().Undefined();
}

// unixRecv(fd, maxLength) -> { data, fds } | null (nothing pending).
// data.length === 0 means the peer closed.
Napi::Value UnixRecv(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = info[0].As<Napi::Number>().Int32Value();
	uint32_t cap = info[1].As<Napi::Number>().Uint32Value();
	int fds[RC_MAX_FDS_PER_MESSAGE];
	int nfds = 0;
	Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, cap ? cap : 1);
	int r = rc_unix_recv(fd, buf.Data(), cap, fds, &nfds);
	if (r == -EAGAIN)
		return env.Null();
	if (r == -ECONNRESET)
		r = 0; /* a peer that died is a peer that closed */
	if (r < 0) {
		Napi::Error err = ErrnoError(env, "recv", r);
		if (r == -EMSGSIZE)
			err.Set("code", Napi::String::New(env, "ERR_RINGCAST_MESSAGE_TOO_LONG"));
		throw err;
	}
	Napi::Object out = Napi::Object::New(env);
	out.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf.Data(), static_cast<size_t>(r)));
	Napi::Array list = Napi::Array::New(env, nfds);
	for (int i = 0; i < nfds; i++) {
		HeldFds::Add(env, fds[i]);
		list.Set(i, fds[i]);
	}
	out.Set("fds", list);
	return out;
}

// refuseSameUidAccess(): prctl(PR_SET_DUMPABLE, 0) for the whole process
// (docs/security.md, "Same uid"). Throws ERR_RINGCAST_SYSTEM if refused.
Napi::Value RefuseSameUidAccess(const Napi::CallbackInfo &info)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		throw ErrnoError(info.Env(), "prctl(PR_SET_DUMPABLE, 0)", -errno);
	return info.Env().Undefined();
}

Napi::Value CloseFdJs(const Napi::CallbackInfo &info)
{
	int fd = info[0].As<Napi::Number>().Int32Value();
	if (fd >= 0) {
		HeldFds::Forget(info.Env(), fd);
		close(fd);
	}
	return info.Env().Undefined();
}

Napi::Value RingDoorbell(const Napi::CallbackInfo &info)
{
	rc_eventfd_ring(info[0].As<Napi::Number>().Int32Value());
	return info.Env().Undefined();
}

// inspectRing(fd) -> a snapshot of a ring's descriptor and slot table, for
// `ringcast stat`: a memfd from the bus socket, or an ivshmem ring file. The
// descriptor is copied with pread, never mapped: a file someone shrinks
// under us gives a short read, not SIGBUS, so any ring can be looked at.
Napi::Value InspectRing(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = info[0].As<Napi::Number>().Int32Value();
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < static_cast<off_t>(RC_DESC_SIZE + RC_MIN_CAPACITY))
		throw ErrnoError(env, "ring descriptor", -EMSGSIZE);
	std::vector<uint8_t> copy(RC_DESC_SIZE);
	size_t got = 0;
	while (got < copy.size()) {
		ssize_t n = pread(fd, copy.data() + got, copy.size() - got, static_cast<off_t>(got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			throw ErrnoError(env, "read ring descriptor", n < 0 ? -errno : -EMSGSIZE);
		got += static_cast<size_t>(n);
	}
	return DescribeRing(env, copy.data());
}

// Geometry rules of the core, so TypeScript validates options by them
// instead of re-deriving them.
Napi::Value DefaultMaxPayload(const Napi::CallbackInfo &info)
{
	return Napi::Number::New(info.Env(), rc_default_max_payload(static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue())));
}

Napi::Value MinMaxLag(const Napi::CallbackInfo &info)
{
	return Napi::Number::New(info.Env(), static_cast<double>(rc_min_max_lag(info[0].As<Napi::Number>().Uint32Value())));
}

Napi::Object Constants(Napi::Env env)
{
	Napi::Object c = Napi::Object::New(env);
	RC_EXPORT_CONSTANT(c, RC_LAYOUT_VERSION);
	RC_EXPORT_CONSTANT(c, RC_PAGE_SIZE);
	RC_EXPORT_CONSTANT(c, RC_CACHE_LINE);
	RC_EXPORT_CONSTANT(c, RC_MAX_SUBSCRIBERS);
	RC_EXPORT_CONSTANT(c, RC_SLOT_SIZE);
	RC_EXPORT_CONSTANT(c, RC_SLOT_TABLE_OFFSET);
	RC_EXPORT_CONSTANT(c, RC_DESC_SIZE);
	RC_EXPORT_CONSTANT(c, RC_ACK_PAGE_SIZE);
	RC_EXPORT_CONSTANT(c, RC_MIN_CAPACITY);
	RC_EXPORT_CONSTANT(c, RC_MAX_CAPACITY);
	RC_EXPORT_CONSTANT(c, RC_RECORD_ALIGN);
	RC_EXPORT_CONSTANT(c, RC_RECORD_HEADER_SIZE);
	RC_EXPORT_CONSTANT(c, RC_MIN_MAX_PAYLOAD);
	RC_EXPORT_CONSTANT(c, RC_DEFAULT_MAX_MESSAGE);
	RC_EXPORT_CONSTANT(c, RC_FIRST_FRAGMENT_SIZE);
	RC_EXPORT_CONSTANT(c, RC_COPY_GUARDED_FROM);
	RC_EXPORT_CONSTANT(c, RC_PUB_OPEN);
	RC_EXPORT_CONSTANT(c, RC_PUB_CLOSED);
	RC_EXPORT_CONSTANT(c, RC_PUB_ABORTED);
	RC_EXPORT_CONSTANT(c, RC_POLICY_BLOCK);
	RC_EXPORT_CONSTANT(c, RC_POLICY_DROP);
	RC_EXPORT_CONSTANT(c, RC_SLOT_FREE);
	RC_EXPORT_CONSTANT(c, RC_SLOT_ACTIVE);
	RC_EXPORT_CONSTANT(c, RC_SLOT_LAGGING);
	RC_EXPORT_CONSTANT(c, RC_SLOT_EVICTED);
	RC_EXPORT_CONSTANT(c, RC_EVICT_NONE);
	RC_EXPORT_CONSTANT(c, RC_EVICT_SLOW);
	RC_EXPORT_CONSTANT(c, RC_EVICT_PROTOCOL);
	RC_EXPORT_CONSTANT(c, RC_EVICT_DEAD);
	RC_EXPORT_CONSTANT(c, RC_EVICT_CLOSED);
	RC_EXPORT_CONSTANT(c, RC_FRAG_FIRST);
	RC_EXPORT_CONSTANT(c, RC_FRAG_LAST);
	RC_EXPORT_CONSTANT(c, RC_FEATURE_ENVELOPE);
	RC_EXPORT_CONSTANT(c, RC_ENVELOPE_SIZE);
	RC_EXPORT_CONSTANT(c, RC_OK);
	RC_EXPORT_CONSTANT(c, RC_EAGAIN);
	RC_EXPORT_CONSTANT(c, RC_EINVAL);
	RC_EXPORT_CONSTANT(c, RC_ECORRUPT);
	RC_EXPORT_CONSTANT(c, RC_ELAPPED);
	RC_EXPORT_CONSTANT(c, RC_EEVICTED);
	RC_EXPORT_CONSTANT(c, RC_ECLOSED);
	RC_EXPORT_CONSTANT(c, RC_ETOOBIG);
	RC_EXPORT_CONSTANT(c, RC_ESTATE);
	RC_EXPORT_CONSTANT(c, RC_ENOSLOT);
	RC_EXPORT_CONSTANT(c, RC_EABORTED);
	RC_EXPORT_CONSTANT(c, RC_EMESSAGE);
	RC_EXPORT_CONSTANT(c, RC_MAX_FDS_PER_MESSAGE);
	c.Set("META_STRIDE", Napi::Number::New(env, kMetaStride));
	c.Set("MAX_BATCH", Napi::Number::New(env, kMaxBatch));
	c.Set("LARGE_MESSAGE_FROM", Napi::Number::New(env, static_cast<double>(kLargeMessageFrom)));
	c.Set("DOORBELL_EVTCHN", Napi::Number::New(env, FdWatcher::kEvtchn));
	return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	HeldFds::Track(env);
	exports.Set("constants", Constants(env));
	RegisterControl(env, exports); // after constants: adds the control-message ones
	RegisterIvshmem(env, exports);
	RegisterXen(env, exports);
	exports.Set("Publisher", Publisher::Define(env));
	exports.Set("Subscriber", Subscriber::Define(env));
	exports.Set("FdWatcher", FdWatcher::Define(env));
	exports.Set("unixListen", Napi::Function::New(env, UnixListen));
	exports.Set("unixConnect", Napi::Function::New(env, UnixConnect));
	exports.Set("unixAccept", Napi::Function::New(env, UnixAccept));
	exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
	exports.Set("unixSend", Napi::Function::New(env, UnixSend));
	exports.Set("unixRecv", Napi::Function::New(env, UnixRecv));
	exports.Set("closeFd", Napi::Function::New(env, CloseFdJs));
	exports.Set("refuseSameUidAccess", Napi::Function::New(env, RefuseSameUidAccess));
	exports.Set("ringDoorbell", Napi::Function::New(env, RingDoorbell));
	exports.Set("inspectRing", Napi::Function::New(env, InspectRing));
	exports.Set("defaultMaxPayload", Napi::Function::New(env, DefaultMaxPayload));
	exports.Set("minMaxLag", Napi::Function::New(env, MinMaxLag));
	exports.Set("allocMessage", Napi::Function::New(env, AllocMessage));
	return exports;
}

} // namespace

// The descriptor copy's fields, for inspectRing and xenInspect (ring_snapshot.h).
Napi::Object DescribeRing(Napi::Env env, const uint8_t *desc)
{
	const rc_ring_desc *d = reinterpret_cast<const rc_ring_desc *>(desc);
	const rc_join_answer *answers = reinterpret_cast<const rc_join_answer *>(desc + RC_JOIN_ANSWER_OFFSET);
	Napi::Object out = Napi::Object::New(env);
	bool valid = d->magic == RC_RING_MAGIC && d->layout_version == RC_LAYOUT_VERSION;
	out.Set("valid", valid);
	if (valid) {
		out.Set("capacity", static_cast<double>(d->capacity));
		out.Set("maxPayload", d->max_payload);
		out.Set("policy", d->policy);
		out.Set("features", d->features);
		out.Set("head", static_cast<double>(d->head));
		out.Set("messages", static_cast<double>(d->messages));
		out.Set("publisherState", d->publisher_state);
		out.Set("publisherPid", d->publisher_pid);
		Napi::Array slots = Napi::Array::New(env);
		uint32_t n = 0;
		for (uint32_t i = 0; i < RC_MAX_SUBSCRIBERS; i++) {
			const rc_slot *s = reinterpret_cast<const rc_slot *>(desc + RC_SLOT_TABLE_OFFSET + i * RC_SLOT_SIZE);
			uint32_t state = s->state;
			if (state == RC_SLOT_FREE)
				continue;
			Napi::Object o = Napi::Object::New(env);
			o.Set("slot", i);
			o.Set("state", state);
			o.Set("reason", s->evict_reason);
			o.Set("ack", static_cast<double>(s->ack));
			o.Set("lostFrom", static_cast<double>(s->lost_from));
			o.Set("lostTo", static_cast<double>(s->lost_to));
			o.Set("lostMessages", s->lost_messages);
			o.Set("evictions", s->evictions);
			o.Set("pid", s->pid);
			o.Set("uid", s->uid);
			// A slot attached through shared memory (an ivshmem guest): its join
			// answer names this very attachment.
			o.Set("guest", answers[i].verdict == RC_JOIN_ACCEPTED && answers[i].generation == s->generation);
			slots.Set(n++, o);
		}
		out.Set("slots", slots);
	}
	return out;
}

NODE_API_MODULE(ringcast, Init)
