// SPDX-License-Identifier: MIT
//
// The control-message codec's part of the binding (control.cc).
#ifndef RINGCAST_BINDING_CONTROL_H
#define RINGCAST_BINDING_CONTROL_H

#include <napi.h>

// Adds encodeControl/decodeControl to `exports` and the constants of
// ringcast_control.h to `exports.constants` (which must already exist).
void RegisterControl(Napi::Env env, Napi::Object exports);

#endif
