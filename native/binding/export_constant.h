// SPDX-License-Identifier: MIT
//
// How the binding's parts (addon.cc, control.cc, ivshmem.cc) put a C constant
// on `exports.constants`, under the C name: TypeScript reads every layout and
// protocol constant from there and never re-declares one by hand.
#ifndef RINGCAST_BINDING_EXPORT_CONSTANT_H
#define RINGCAST_BINDING_EXPORT_CONSTANT_H

#include <napi.h>

// A macro, not a function: the constant's name is its C spelling (#name).
#define RC_EXPORT_CONSTANT(constants, name) \
	(constants).Set(#name, Napi::Number::New((constants).Env(), static_cast<double>(name)))

#endif
