/* The framing spec a BPF program gets from userspace: a .rodata constant the loader
 * fills in (skel->rodata->framing_spec) before the object is loaded.
 *
 * It must be read through a pointer the compiler cannot trace back to the object:
 * read directly or through a plain cast, clang folds the `= {}` initializer in at
 * compile time and the values written before loading are never read.
 */
#ifndef RCVQ_LOADED_FRAMING_SPEC_H
#define RCVQ_LOADED_FRAMING_SPEC_H

#include "frame_spec.h"

const volatile struct ft_spec framing_spec = {};

static __always_inline const struct ft_spec *loaded_framing_spec(void)
{
	const struct ft_spec *spec = (const struct ft_spec *)&framing_spec;

	asm volatile("" : "+r"(spec));
	return spec;
}

#endif
