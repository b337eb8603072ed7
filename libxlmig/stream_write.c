/*
 * stream_write.c - the writer of Xen's save/migration stream (see
 * stream.h): every header and record laid out as xl, libxl and libxc lay
 * them out, with zero padding, so that a parsed stream written back is
 * byte-identical.
 */
#include "stream.h"

static const uint8_t zeroes[8];

/* A piece of a record body. */
struct body_part {
	const void *p;
	size_t n;
};

int xlmig_write_xl_header_optdata(const struct xlmig_sink *s, uint32_t mandatory_flags,
				  uint32_t optional_flags, const void *optdata,
				  uint32_t optdata_len)
{
	uint8_t h[XLMIG_XL_HEADER_LEN];
	int rc;

	if (optdata_len > XLMIG_MAX_XL_OPTDATA)
		return xlmig_fail(XLMIG_E_LIMIT, "xl header: %u bytes of optional data is over "
				  "the limit of %u", optdata_len, XLMIG_MAX_XL_OPTDATA);
	memcpy(h, XLMIG_XL_MAGIC, XLMIG_XL_MAGIC_LEN);
	xlmig_put_le32(h + 32, XLMIG_XL_BYTEORDER);
	xlmig_put_le32(h + 36, mandatory_flags);
	xlmig_put_le32(h + 40, optional_flags);
	xlmig_put_le32(h + 44, optdata_len);
	rc = xlmig_sink_write(s, h, sizeof(h));
	if (!rc)
		rc = xlmig_sink_write(s, optdata, optdata_len);
	return rc;
}

int xlmig_write_xl_header(const struct xlmig_sink *s, uint32_t mandatory_flags,
			  uint32_t optional_flags, const void *config, uint32_t config_len)
{
	uint8_t h[XLMIG_XL_HEADER_LEN + 4];
	int rc;

	if (config_len > XLMIG_MAX_XL_OPTDATA - 4)
		return xlmig_fail(XLMIG_E_LIMIT, "xl header: config of %u bytes is over the "
				  "limit of %u", config_len, XLMIG_MAX_XL_OPTDATA - 4);
	/* Written in two pieces so the config is never copied. */
	memcpy(h, XLMIG_XL_MAGIC, XLMIG_XL_MAGIC_LEN);
	xlmig_put_le32(h + 32, XLMIG_XL_BYTEORDER);
	xlmig_put_le32(h + 36, mandatory_flags);
	xlmig_put_le32(h + 40, optional_flags);
	xlmig_put_le32(h + 44, 4 + config_len);
	xlmig_put_le32(h + 48, config_len);
	rc = xlmig_sink_write(s, h, sizeof(h));
	if (!rc)
		rc = xlmig_sink_write(s, config, config_len);
	return rc;
}

int xlmig_write_libxl_header(const struct xlmig_sink *s, uint32_t options)
{
	uint8_t h[XLMIG_LIBXL_HEADER_LEN];

	xlmig_put_be64(h, XLMIG_LIBXL_IDENT);
	xlmig_put_be32(h + 8, XLMIG_LIBXL_VERSION);
	xlmig_put_be32(h + 12, options);
	return xlmig_sink_write(s, h, sizeof(h));
}

int xlmig_write_libxc_image_header(const struct xlmig_sink *s, uint32_t version,
				   uint16_t options)
{
	uint8_t h[XLMIG_LIBXC_IHDR_LEN] = { 0 };

	xlmig_put_be64(h, XLMIG_LIBXC_MARKER);
	xlmig_put_be32(h + 8, XLMIG_LIBXC_ID);
	xlmig_put_be32(h + 12, version);
	xlmig_put_be16(h + 16, options);
	return xlmig_sink_write(s, h, sizeof(h));
}

int xlmig_write_libxc_domain_header(const struct xlmig_sink *s, uint32_t guest_type,
				    uint16_t page_shift, uint32_t xen_major,
				    uint32_t xen_minor)
{
	uint8_t h[XLMIG_LIBXC_DHDR_LEN] = { 0 };

	xlmig_put_le32(h, guest_type);
	xlmig_put_le16(h + 4, page_shift);
	xlmig_put_le32(h + 8, xen_major);
	xlmig_put_le32(h + 12, xen_minor);
	return xlmig_sink_write(s, h, sizeof(h));
}

/* Record framing is the same in both layers.  The body may come in
 * several pieces (PAGE_DATA: count, pfns, pages) so nothing is copied. */
static int write_record_parts(const struct xlmig_sink *s, uint32_t type,
			      const struct body_part *parts, size_t nparts)
{
	uint8_t h[XLMIG_RECORD_HDR_LEN];
	uint64_t len = 0;
	int rc;

	for (size_t i = 0; i < nparts; i++)
		len += parts[i].n;
	if (len > XLMIG_MAX_RECORD_BODY)
		return xlmig_fail(XLMIG_E_LIMIT, "record type %#x: body of %llu bytes is over "
				  "the limit of %u", type, (unsigned long long)len,
				  XLMIG_MAX_RECORD_BODY);
	xlmig_put_le32(h, type);
	xlmig_put_le32(h + 4, (uint32_t)len);
	rc = xlmig_sink_write(s, h, sizeof(h));
	for (size_t i = 0; i < nparts && !rc; i++)
		rc = xlmig_sink_write(s, parts[i].p, parts[i].n);
	if (!rc)
		rc = xlmig_sink_write(s, zeroes, (size_t)(-len & 7));
	return rc;
}

int xlmig_write_libxl_record(const struct xlmig_sink *s, uint32_t type,
			     const void *body, uint32_t len)
{
	const struct body_part part = { body, len };

	return write_record_parts(s, type, &part, 1);
}

int xlmig_write_libxc_record(const struct xlmig_sink *s, uint32_t type,
			     const void *body, uint32_t len)
{
	const struct body_part part = { body, len };

	return write_record_parts(s, type, &part, 1);
}

int xlmig_write_page_data(const struct xlmig_sink *s, uint32_t count,
			  const uint64_t *pfns, const void *data)
{
	uint8_t head[8] = { 0 }, le[8 * XLMIG_MAX_PAGES_PER_RECORD];
	uint32_t data_pages = 0;

	if (count == 0 || count > XLMIG_MAX_PAGES_PER_RECORD)
		return xlmig_fail(XLMIG_E_INVAL, "PAGE_DATA: %u pages (1 to %u allowed)",
				  count, XLMIG_MAX_PAGES_PER_RECORD);
	for (uint32_t i = 0; i < count; i++) {
		xlmig_put_le64(le + 8 * i, pfns[i]);
		data_pages += xlmig_pfn_type_has_data((unsigned)(pfns[i] >> XLMIG_PFN_TYPE_SHIFT));
	}
	xlmig_put_le32(head, count);
	const struct body_part parts[] = {
		{ head, sizeof(head) },
		{ le, 8 * (size_t)count },
		{ data, (size_t)data_pages * XLMIG_PAGE_SIZE },
	};
	return write_record_parts(s, XLMIG_REC_PAGE_DATA, parts, XLMIG_ARRAY_SIZE(parts));
}

int xlmig_write_item(const struct xlmig_sink *s, const struct xlmig_item *item)
{
	switch (item->kind) {
	case XLMIG_ITEM_XL_HEADER:
		return xlmig_write_xl_header_optdata(s, item->u.xl.mandatory_flags,
						     item->u.xl.optional_flags,
						     item->u.xl.optdata, item->u.xl.optdata_len);
	case XLMIG_ITEM_LIBXL_HEADER:
		return xlmig_write_libxl_header(s, item->u.libxl.options);
	case XLMIG_ITEM_LIBXL_RECORD:
		return xlmig_write_libxl_record(s, item->type, item->body, item->body_len);
	case XLMIG_ITEM_LIBXC_IMAGE_HEADER:
		return xlmig_write_libxc_image_header(s, item->u.image.version,
						      item->u.image.options);
	case XLMIG_ITEM_LIBXC_DOMAIN_HEADER:
		return xlmig_write_libxc_domain_header(s, item->u.domain.guest_type,
						       item->u.domain.page_shift,
						       item->u.domain.xen_major,
						       item->u.domain.xen_minor);
	case XLMIG_ITEM_LIBXC_RECORD:
		return xlmig_write_libxc_record(s, item->type, item->body, item->body_len);
	case XLMIG_ITEM_XL_MESSAGE:
		return xlmig_fail(XLMIG_E_INVAL, "xl's %s is not part of the stream",
				  item->u.xlmsg.name);
	}
	return xlmig_fail(XLMIG_E_INVAL, "cannot write an item of kind %d", (int)item->kind);
}
