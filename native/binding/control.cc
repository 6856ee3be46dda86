// SPDX-License-Identifier: MIT
//
// Control messages across the N-API boundary: JS objects with numeric enums
// on this side, the wire bytes of ringcast_control.h on the other. All rules
// live in native/src/control/rc_control.c; this file only converts.
//
//   encodeControl({ type, ... }) -> Buffer     throws on a message the codec
//                                              would refuse
//   decodeControl(Uint8Array)    -> object | null   null: not a well-formed
//                                              message (a protocol violation)
//
// Object shapes (numbers are the RC_* constants exported alongside):
//   HELLO    { type, version, role }
//   WELCOME  { type, version, slot, generation, nextSeq }
//   REFUSED  { type, reason, text }
//   DETACH   { type }      REJOIN { type }
//
// No state: safe in every worker thread.

#include "control.h"
#include "export_constant.h"

#include <cmath>
#include <cstring>
#include <string>

extern "C" {
#include "ringcast.h"
#include "ringcast_control.h"
}

namespace {

// Integers a JS number holds exactly (Number.MAX_SAFE_INTEGER): generation
// and next_seq beyond this cannot cross the boundary without changing value.
constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

Napi::Error InvalidMessage(Napi::Env env, const std::string &detail)
{
	Napi::Error err = Napi::TypeError::New(env, "invalid control message: " + detail);
	err.Set("code", Napi::String::New(env, "ERR_RINGCAST_INVALID_OPTION"));
	return err;
}

// obj[name] as an integer in [min, max], or a thrown TypeError.
double IntegerField(Napi::Object obj, const char *name, double min, double max)
{
	Napi::Value v = obj.Get(name);
	if (!v.IsNumber())
		throw InvalidMessage(obj.Env(), std::string(name) + " must be a number");
	double d = v.As<Napi::Number>().DoubleValue();
	if (!std::isfinite(d) || std::trunc(d) != d || d < min || d > max)
		throw InvalidMessage(obj.Env(), std::string(name) + " out of range");
	return d;
}

Napi::Value EncodeControl(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsObject())
		throw InvalidMessage(env, "expected an object");
	Napi::Object obj = info[0].As<Napi::Object>();
	rc_control_msg msg;
	std::memset(&msg, 0, sizeof(msg));
	msg.type = static_cast<uint32_t>(IntegerField(obj, "type", 0, UINT32_MAX));
	switch (msg.type) {
	case RC_CONTROL_HELLO:
		msg.u.hello.version = static_cast<uint32_t>(IntegerField(obj, "version", 0, UINT32_MAX));
		msg.u.hello.role = static_cast<uint32_t>(IntegerField(obj, "role", 0, UINT32_MAX));
		break;
	case RC_CONTROL_WELCOME:
		msg.u.welcome.version = static_cast<uint32_t>(IntegerField(obj, "version", 0, UINT32_MAX));
		msg.u.welcome.slot = static_cast<int32_t>(IntegerField(obj, "slot", INT32_MIN, INT32_MAX));
		msg.u.welcome.generation = static_cast<uint64_t>(IntegerField(obj, "generation", 0, static_cast<double>(kMaxSafeInteger)));
		msg.u.welcome.next_seq = static_cast<uint64_t>(IntegerField(obj, "nextSeq", 0, static_cast<double>(kMaxSafeInteger)));
		break;
	case RC_CONTROL_REFUSED: {
		msg.u.refused.reason = static_cast<uint32_t>(IntegerField(obj, "reason", 0, UINT32_MAX));
		Napi::Value text = obj.Get("text");
		if (!text.IsString())
			throw InvalidMessage(env, "text must be a string");
		// Lone surrogates come out as U+FFFD: always valid UTF-8.
		std::string utf8 = text.As<Napi::String>().Utf8Value();
		if (utf8.size() > RC_CONTROL_MAX_TEXT)
			throw InvalidMessage(env, "text longer than " + std::to_string(RC_CONTROL_MAX_TEXT) + " bytes");
		msg.u.refused.text_length = static_cast<uint32_t>(utf8.size());
		std::memcpy(msg.u.refused.text, utf8.data(), utf8.size());
		break;
	}
	default:
		break; // DETACH, REJOIN; anything else is refused by the codec below
	}
	uint8_t buf[RC_CONTROL_MAX_SIZE];
	int len = rc_control_encode(&msg, buf, sizeof(buf));
	if (len < 0)
		throw InvalidMessage(env, std::string("the codec refused it (") + rc_status_name(len) + ")");
	return Napi::Buffer<uint8_t>::Copy(env, buf, static_cast<size_t>(len));
}

Napi::Value DecodeControl(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsTypedArray() ||
	    info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
		throw InvalidMessage(env, "decodeControl expects a Uint8Array");
	Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
	rc_control_msg msg;
	if (rc_control_decode(data.Data(), data.ByteLength(), &msg) != RC_OK)
		return env.Null();
	Napi::Object out = Napi::Object::New(env);
	out.Set("type", msg.type);
	switch (msg.type) {
	case RC_CONTROL_HELLO:
		out.Set("version", msg.u.hello.version);
		out.Set("role", msg.u.hello.role);
		break;
	case RC_CONTROL_WELCOME:
		// Valid on the wire, but not representable as a JS number: as
		// unusable to us as a malformed message.
		if (msg.u.welcome.generation > kMaxSafeInteger || msg.u.welcome.next_seq > kMaxSafeInteger)
			return env.Null();
		out.Set("version", msg.u.welcome.version);
		out.Set("slot", msg.u.welcome.slot);
		out.Set("generation", static_cast<double>(msg.u.welcome.generation));
		out.Set("nextSeq", static_cast<double>(msg.u.welcome.next_seq));
		break;
	case RC_CONTROL_REFUSED:
		out.Set("reason", msg.u.refused.reason);
		// Checked UTF-8 without NUL by the codec.
		out.Set("text", Napi::String::New(env, msg.u.refused.text, msg.u.refused.text_length));
		break;
	default:
		break;
	}
	return out;
}

} // namespace

void RegisterControl(Napi::Env env, Napi::Object exports)
{
	Napi::Object c = exports.Get("constants").As<Napi::Object>();
	RC_EXPORT_CONSTANT(c, RC_CONTROL_VERSION);
	RC_EXPORT_CONSTANT(c, RC_PROTOCOL_VERSION);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_HEADER_SIZE);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_MAX_TEXT);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_MAX_SIZE);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_HELLO);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_WELCOME);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_REFUSED);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_DETACH);
	RC_EXPORT_CONSTANT(c, RC_CONTROL_REJOIN);
	RC_EXPORT_CONSTANT(c, RC_ROLE_SUBSCRIBE);
	RC_EXPORT_CONSTANT(c, RC_ROLE_INSPECT);
	RC_EXPORT_CONSTANT(c, RC_ROLE_CHANNEL);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_VERSION);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_ALLOW_LIST);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_FULL);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_QUOTA);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_PROTOCOL);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_TIMEOUT);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_CLOSING);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_FLOOD);
	RC_EXPORT_CONSTANT(c, RC_REFUSE_BACKOFF);
	exports.Set("encodeControl", Napi::Function::New(env, EncodeControl));
	exports.Set("decodeControl", Napi::Function::New(env, DecodeControl));
}
