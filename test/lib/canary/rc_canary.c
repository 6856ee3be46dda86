// SPDX-License-Identifier: GPL-2.0
/*
 * rc_canary: a module whose only job is one kernel warning. Every guest of
 * the VM and Xen suites loads it at boot; the host's kernel-log scan
 * (scan_kernel_logs in test/lib/guest-harness.sh) must find its WARNING in
 * every guest's log. That proves, in every run, that each guest's log
 * reaches the scan and that the scan catches a real WARN_ON_ONCE; the
 * canary's own block is then the only warning allowed.
 */
#include <linux/bug.h>
#include <linux/init.h>
#include <linux/module.h>

static int __init rc_canary_init(void)
{
	WARN_ON_ONCE(1);
	return 0;
}

static void __exit rc_canary_exit(void)
{
}

module_init(rc_canary_init);
module_exit(rc_canary_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringcast test canary: one injected kernel warning");
