// SPDX-License-Identifier: MIT
//
// JS functions bound to one native object: their data pointer reaches the
// object directly, without the napi_unwrap an ObjectWrap instance method
// pays on every call (in Node 20 a property lookup by private symbol: about
// 40 ns, almost half of an empty tryRecv(), 90 -> 48 ns). For the calls a
// busy-polling application makes millions of times a second (the
// subscriber's readSmall, the publisher's offer).
//
// Lifetime: the object and each function bound to it share one BoundSelf.
// The object clears `self` when it is destroyed; a function that outlives it
// (kept by JS after the object was collected) then finds nullptr. Whichever
// of them goes last frees the BoundSelf. Everything here runs on the
// environment's JS thread (calls, finalizers, destructors of ObjectWraps).
#ifndef RINGCAST_BOUND_SELF_H
#define RINGCAST_BOUND_SELF_H

#include <napi.h>

#include <cstdint>

template <typename T> struct BoundSelf {
	T *self;
	uint32_t refs;

	void Unref()
	{
		if (--refs == 0)
			delete this;
	}
};

// A new function calling Call(info) with info.Data() = the BoundSelf of
// `self` (created on first use in `*bound`, the object's own reference).
template <typename T, Napi::Value (*Call)(const Napi::CallbackInfo &)>
Napi::Function BindFunction(Napi::Env env, BoundSelf<T> *&bound, T *self, const char *name)
{
	if (!bound)
		bound = new BoundSelf<T>{self, 1};
	Napi::Function fn = Napi::Function::New<Call>(env, name, bound);
	bound->refs++;
	fn.AddFinalizer([](Napi::Env, BoundSelf<T> *b) { b->Unref(); }, bound);
	return fn;
}

// As BindFunction, for a raw napi callback that takes no argument and
// throws nothing: no Napi::CallbackInfo, which fetches up to six arguments
// and `this` on every call, and no C++ exception wrapper (about 100
// instructions per call; a woken read's readSmall is on the path from the
// doorbell to the reader's answer). Call reaches the object with
// RawBoundObject.
template <typename T, napi_callback Call>
Napi::Function BindRawFunction(Napi::Env env, BoundSelf<T> *&bound, T *self, const char *name)
{
	if (!bound)
		bound = new BoundSelf<T>{self, 1};
	napi_value raw;
	napi_status status = napi_create_function(env, name, NAPI_AUTO_LENGTH, Call, bound, &raw);
	NAPI_THROW_IF_FAILED(env, status, Napi::Function());
	Napi::Function fn(env, raw);
	bound->refs++;
	fn.AddFinalizer([](Napi::Env, BoundSelf<T> *b) { b->Unref(); }, bound);
	return fn;
}

// The object behind a raw bound function's call (BindRawFunction), or nullptr once it is gone.
template <typename T> T *RawBoundObject(napi_env env, napi_callback_info info)
{
	void *data = nullptr;
	napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
	return static_cast<BoundSelf<T> *>(data)->self;
}

// The object's end: its functions find nullptr from now on.
template <typename T> void UnbindSelf(BoundSelf<T> *&bound)
{
	if (bound) {
		bound->self = nullptr;
		bound->Unref();
		bound = nullptr;
	}
}

// The object behind a bound function's call, or nullptr once it is gone.
template <typename T> T *BoundObject(const Napi::CallbackInfo &info)
{
	return static_cast<BoundSelf<T> *>(info.Data())->self;
}

#endif // RINGCAST_BOUND_SELF_H
