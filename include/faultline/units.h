/* Units in one place: durations, percentages, rates and sizes as users write
 * them in scenarios ("250ms", "1m30s", "25%", "10mbit", "200/s", "512MiB"),
 * with the same meanings as iproute2's tc. Pure functions, no allocation. */
#ifndef FAULTLINE_UNITS_H
#define FAULTLINE_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define FL_NS_PER_US 1000LL
#define FL_NS_PER_MS 1000000LL
#define FL_NS_PER_S  1000000000LL

/* All parsers return 0 on success or -EINVAL / -ERANGE, and then set *why to
 * a static, lowercase explanation suitable for a diagnostic. Outputs are set
 * only on success. */

/* "250ms", "10s", "1m30s", "1h", "500us", "1.5s", "0". A bare number other
 * than 0 is refused: the unit is part of the value. allow_negative permits a
 * leading '-' (clock offsets). */
int fl_parse_duration(const char *s, int allow_negative, int64_t *ns, const char **why);

/* "25%", "0.5%" -> 25.0, 0.5; range 0..100. */
int fl_parse_percent(const char *s, double *pct, const char **why);

/* tc rate: "10mbit", "100kbit", "1gbit", "500kbps" (bytes/s, as tc), "1000bit".
 * Result in bytes per second, > 0. */
int fl_parse_bitrate(const char *s, uint64_t *bytes_per_sec, const char **why);

/* Operation rate: "200/s", "1200/m", "5/ms" or "unlimited" (-> 0). */
int fl_parse_op_rate(const char *s, double *ops_per_sec, const char **why);

/* Sizes: "512MiB", "1GiB", "2G" (= GiB, as libvirt and qemu read it), "4096"
 * (bytes), "64KiB". */
int fl_parse_size(const char *s, uint64_t *bytes, const char **why);

/* Integer in [min, max]: "42", "0x10". */
int fl_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, const char **why);

/* Percent to the kernel's 32-bit fraction, as iproute2: rint(p/100 * UINT32_MAX). */
uint32_t fl_percent_to_u32(double pct);

/* Canonical text: "1m30s", "250ms", "1.5s", "0s", "-2s". buf >= 32 bytes. */
void fl_format_duration(int64_t ns, char *buf, size_t len);

/* "12.5%" / "25%": shortest form. buf >= 32 bytes. */
void fl_format_percent(double pct, char *buf, size_t len);

/* tc style: "10mbit", "1.5mbit", "800bit". buf >= 32 bytes. */
void fl_format_bitrate(uint64_t bytes_per_sec, char *buf, size_t len);

#endif
