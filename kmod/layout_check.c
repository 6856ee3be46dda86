// SPDX-License-Identifier: GPL-2.0
/*
 * Builds the shared layout and control headers inside a kernel module, so
 * their compile-time offset tables are checked by the kernel's compiler and
 * headers too (ringcast_ivshmem.c, the guest driver, includes the layout
 * header the same way).
 */
#include <linux/module.h>
#include "ringcast_layout.h"
#include "ringcast_control.h"

static int __init layout_check_init(void)
{
	pr_info("ringcast layout %u, desc %u bytes\n", RC_LAYOUT_VERSION, RC_DESC_SIZE);
	return 0;
}
static void __exit layout_check_exit(void) {}
module_init(layout_check_init);
module_exit(layout_check_exit);
MODULE_LICENSE("GPL");
