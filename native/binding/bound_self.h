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
