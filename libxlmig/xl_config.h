/*
 * xl_config.h - the domain config of an xl-style migration: the JSON
 * config xl's save header carries (the header itself is read by the
 * stream layer, stream.h), and the file `xl migrate -C` names, which is
 * sent in its place.
 *
 * The receiver (xl_receive.h) takes the guest's name, and the domain id
 * xl -D asks for, from the config; the sender (xl_send.h), `xlmig
 * migrate -C` and xlmigd's incoming-config checks load and check it here.
 */
#ifndef XLMIG_XL_CONFIG_H
#define XLMIG_XL_CONFIG_H

#include "common.h"
#include "hv.h"

/* ---- the config in xl's save header ---- */

/* c_info.name from a JSON config, checked to be a usable domain name. */
int xlmig_xl_config_name(const uint8_t *config, uint32_t len, char name[XLMIG_NAME_MAX]);
/* c_info.domid from a JSON config: the id the sender's xl -D asks for;
 * 0 when absent or 0 (the receiver picks).  Not a guest id: FORMAT. */
int xlmig_xl_config_domid(const uint8_t *config, uint32_t len, uint32_t *domid);

/* ---- xl migrate -C ---- */

/* The config file -C names, as the JSON text xlmig sends (*out malloc'd,
 * NUL-terminated).  A JSON file is taken as it is, once checked to parse.
 * An xl-format file is converted by xl's own parser, as `xl migrate -C`
 * does: xlmig runs `XL -N create FILE` (XL is "xl" unless given), whose
 * dry run prints the libxl config as JSON.  xlmig has no xl-format parser
 * of its own: libxlutil only tokenises, the mapping to libxl's config is
 * xl's parse_config_data.  So an xl-format -C needs xl on this host, and
 * the message says how to convert by hand where it is missing. */
int xlmig_xl_config_load(const char *path, const char *xl, char **out);

#endif
