// SPDX-License-Identifier: MIT
//
// The bytes of a message handed in from JS, for every publisher of the
// binding (addon.cc's Publisher, xen.cc's XenPublisher).
#ifndef RINGCAST_BINDING_MESSAGE_BYTES_H
#define RINGCAST_BINDING_MESSAGE_BYTES_H

#include <napi.h>

#include <cstddef>
#include <cstdint>

// A message's bytes with one napi_get_typedarray_info: Napi::Uint8Array's
// constructor makes two, and a batch pays them per message (5 to 15% of the
// publisher's time at 16 and 4 KiB with a zero-copy reader). TypeScript
// passes Uint8Arrays only (checkMessage).
inline void MessageBytes(napi_env env, napi_value value, const uint8_t **data, size_t *length)
{
	napi_typedarray_type type;
	void *bytes = nullptr;
	if (napi_get_typedarray_info(env, value, &type, length, &bytes, nullptr, nullptr) != napi_ok ||
	    (type != napi_uint8_array && type != napi_uint8_clamped_array))
		throw Napi::TypeError::New(env, "a message must be a Uint8Array");
	*data = static_cast<const uint8_t *>(bytes);
}

#endif
