// SPDX-License-Identifier: MIT
//
// A reader's sleep announcement (rc_sub_prepare_wait), handed to another
// native object as plain C: the doorbell's FdWatcher (addon.cc) builds from
// it the one function every subscriber wait calls, which announces and,
// once announced, starts the watcher (sleepFunction). One crossing into the
// addon per wait instead of two, without either object knowing the other's
// class (the readers live in three translation units, as SubscriberReads<T>).
//
// Lifetime: an Announcer holds a reference on its reader's BoundSelf
// (bound_self.h), taken with ref() by whoever keeps a copy and let go with
// unref(); announce() answers false once the reader is gone.
#ifndef RINGCAST_ANNOUNCER_H
#define RINGCAST_ANNOUNCER_H

struct Announcer {
	// Announces the wait (clear_ring: first clear a ring the watcher left);
	// true: sleep on the doorbell now; false: something is there, or the
	// reader is gone.
	bool (*announce)(void *bound, bool clear_ring);
	void (*ref)(void *bound);
	void (*unref)(void *bound);
	void *bound;
};

#endif // RINGCAST_ANNOUNCER_H
