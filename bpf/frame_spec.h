/* Length-prefix framing, shared verbatim by the BPF programs and the C++ side.
 *
 * A frame starts with a prefix of `prefix_size` bytes that holds one or two length
 * fields; the frame length is the sum of the fields, plus the prefix when the fields
 * do not count it, plus `adjustment`. The first `preamble` bytes of a stream are not
 * framed at all (e.g. the HTTP/2 client connection preface).
 *
 * Plain C with fixed-size types and bounded loops so the verifier accepts it.
 */
#ifndef RCVQ_FRAME_SPEC_H
#define RCVQ_FRAME_SPEC_H

#ifdef __BPF__
#ifndef RCVQ_TYPES_DEFINED
typedef __u8 ft_u8;
typedef __u32 ft_u32;
typedef __u64 ft_u64;
typedef __s64 ft_s64;
#endif
#else
#include <stdint.h>
typedef uint8_t ft_u8;
typedef uint32_t ft_u32;
typedef uint64_t ft_u64;
typedef int64_t ft_s64;
#endif

#define FT_MAX_FIELDS 2
#define FT_MAX_PREFIX 32
#define FT_MAX_FIELD_WIDTH 8

struct ft_field {
	ft_u32 offset;     /* within the prefix */
	ft_u32 width;      /* 1..4 or 8 bytes */
	ft_u32 big_endian; /* 0 = little endian */
};

struct ft_spec {
	ft_u32 preamble;
	ft_u32 prefix_size; /* 1..FT_MAX_PREFIX, covers every field */
	ft_u32 nfields;     /* 1..FT_MAX_FIELDS */
	ft_u32 includes_prefix; /* the fields' sum already counts the prefix */
	ft_s64 adjustment;
	struct ft_field fields[FT_MAX_FIELDS];
};

/* Frame length from a complete prefix, or 0 when the prefix is malformed (the
 * declared length is shorter than the prefix itself). */
static inline ft_u64 ft_frame_len(const struct ft_spec *spec, const ft_u8 *prefix)
{
	ft_u64 sum = 0;
	ft_s64 total;
	ft_u32 i, b;

	for (i = 0; i < FT_MAX_FIELDS; i++) {
		const struct ft_field *f = &spec->fields[i];
		ft_u64 value = 0;

		if (i >= spec->nfields)
			break;
		for (b = 0; b < FT_MAX_FIELD_WIDTH; b++) {
			ft_u32 byte_index;

			if (b >= f->width)
				break;
			byte_index = f->big_endian ? b : f->width - 1 - b;
			if (f->offset + byte_index >= FT_MAX_PREFIX)
				return 0;
			value = (value << 8) | prefix[(f->offset + byte_index) & (FT_MAX_PREFIX - 1)];
		}
		sum += value;
	}
	total = (ft_s64)sum + spec->adjustment;
	if (!spec->includes_prefix)
		total += spec->prefix_size;
	if (total < (ft_s64)spec->prefix_size)
		return 0;
	return (ft_u64)total;
}

#endif /* RCVQ_FRAME_SPEC_H */
