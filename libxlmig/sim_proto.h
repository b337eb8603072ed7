/*
 * sim_proto.h - the sim host's request protocol: what xlmigd's sim
 * backend (sim_hv.c) asks of xlmig-simhost (sim_server.c) over a unix
 * socket.  One request, one reply, in order, on each connection.
 *
 * Frame, little endian:
 *   0  4  magic "XSIM"
 *   4  2  version (1): a peer of another version is answered UNSUPPORTED
 *   6  2  type: a request XLMIG_SIMP_*, its reply the same | 0x8000, or
 *         EVENT (0x4000: sent on a WATCH connection when domains changed)
 *   8  4  body length (at most XLMIG_SIMP_MAX_BODY)
 * Body fields: u8/u32/u64 integers, str = le16 length + bytes (no NUL,
 * at most XLMIG_SIMP_MAX_TEXT), blob = le16 length + bytes.
 *
 * Request bodies (every request but LIST and WATCH starts with le32 domid):
 *   LIST                         -> le32 n, n x {domid, str name, le64 mem,
 *                                   le32 vcpus, le32 state}
 *   CREATE str name, le64 mem, le32 vcpus, u8 flags (1 paused, 2 boot:
 *          give memory its content), workload {le64 rate, le32 pattern,
 *          le64 hot_bytes, le32 zero_pct, le32 file_pct, le32 fill_pct,
 *          le64 seed}             -> le32 domid
 *   ATTACH domid                 -> le64 mem, le32 vcpus, workload,
 *                                   le64 state length; with the memory and
 *                                   state memfds as SCM_RIGHTS
 *   PAUSE, UNPAUSE, RESUME, DESTROY domid   -> (nothing)
 *   RENAME domid, str name       -> (nothing)
 *   THROTTLE domid, le32 pct     -> (nothing)
 *   SAVE_BEGIN domid             -> str name; log-dirty on, the domain
 *                                   claimed by this connection
 *   SAVE_STOP domid              -> (nothing); paused, now suspended
 *   SAVE_END domid, u8 ok        -> (nothing); log-dirty off, no throttle;
 *                                   not ok: running again if SAVE_STOP
 *                                   stopped it.  A connection that closes
 *                                   ends its saves so (xlmigd died): a
 *                                   stopped guest stays suspended.
 *   GET_VCPU domid               -> blob (the vCPU blob, sim_guest.h)
 *   SET_VCPU domid, blob         -> (nothing)
 *   COUNTER domid                -> le64 counter
 *   REWRITE domid, le64 first pfn, le64 count -> (nothing)
 *   WATCH                        -> (nothing); then EVENT frames (empty
 *                                   body) whenever a domain appears or goes
 *
 * Reply body: le32 status (0, or an xlmig error code negated); status 0 is
 * followed by the result above, any other by str message.
 */
#ifndef XLMIG_SIM_PROTO_H
#define XLMIG_SIM_PROTO_H

#include "common.h"
#include "hv.h"
#include "sim_guest.h"

#define XLMIG_SIMP_VERSION  1
#define XLMIG_SIMP_HDR_LEN  12
#define XLMIG_SIMP_MAX_BODY (256u << 10)
#define XLMIG_SIMP_MAX_TEXT 1024u
#define XLMIG_SIMP_MAX_DOMS 2048u
#define XLMIG_SIMP_REPLY    0x8000u
#define XLMIG_SIMP_EVENT    0x4000u
#define XLMIG_SIMP_MAX_FDS  2

enum xlmig_simp_type {
	XLMIG_SIMP_LIST = 1,
	XLMIG_SIMP_CREATE,
	XLMIG_SIMP_ATTACH,
	XLMIG_SIMP_PAUSE,
	XLMIG_SIMP_UNPAUSE,
	XLMIG_SIMP_RESUME,
	XLMIG_SIMP_DESTROY,
	XLMIG_SIMP_RENAME,
	XLMIG_SIMP_THROTTLE,
	XLMIG_SIMP_SAVE_BEGIN,
	XLMIG_SIMP_SAVE_STOP,
	XLMIG_SIMP_SAVE_END,
	XLMIG_SIMP_GET_VCPU,
	XLMIG_SIMP_SET_VCPU,
	XLMIG_SIMP_COUNTER,
	XLMIG_SIMP_REWRITE,
	XLMIG_SIMP_WATCH,
	XLMIG_SIMP_TYPE_MAX = XLMIG_SIMP_WATCH,
};

#define XLMIG_SIMP_CREATE_PAUSED 1u
#define XLMIG_SIMP_CREATE_BOOT   2u

/* A request: the fields its type carries are set, the rest zero. */
struct xlmig_simp_req {
	uint16_t type;
	uint32_t domid;
	char name[XLMIG_NAME_MAX];       /* CREATE, RENAME */
	uint64_t mem_bytes;              /* CREATE */
	unsigned vcpus;                  /* CREATE */
	uint8_t flags;                   /* CREATE flags; SAVE_END: 1 = ok */
	struct xlmig_sim_workload wl;    /* CREATE */
	unsigned pct;                    /* THROTTLE */
	uint64_t first, count;           /* REWRITE */
	uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN];   /* SET_VCPU */
	size_t blob_len;
};

/* A reply: status and message, or the result of its request type. */
struct xlmig_simp_reply {
	uint16_t type;                   /* the request's type */
	int status;                      /* XLMIG_OK or XLMIG_E_* */
	char text[XLMIG_SIMP_MAX_TEXT + 1];
	uint32_t domid;                  /* CREATE */
	uint64_t value;                  /* COUNTER */
	char name[XLMIG_NAME_MAX];       /* SAVE_BEGIN */
	uint64_t mem_bytes, state_len;   /* ATTACH */
	unsigned vcpus;
	struct xlmig_sim_workload wl;
	uint8_t blob[XLMIG_SIM_VCPU_BLOB_LEN];   /* GET_VCPU */
	struct xlmig_domain_info *doms;  /* LIST, malloc'd */
	size_t n_doms;
};

/* Frames into out (appended). */
int xlmig_simp_write_req(struct xlmig_buf *out, const struct xlmig_simp_req *r);
int xlmig_simp_write_reply(struct xlmig_buf *out, const struct xlmig_simp_reply *r);
void xlmig_simp_write_event(struct xlmig_buf *out);

/* A frame's header: magic, version, and a body length within limits. */
int xlmig_simp_check_header(const uint8_t hdr[XLMIG_SIMP_HDR_LEN], uint16_t *type,
			    uint32_t *body_len);
/* Whole frames (header and body), every field and length checked.  A
 * reply is for the request type `want`; free it with _reply_free. */
int xlmig_simp_parse_req(const uint8_t *frame, size_t len, struct xlmig_simp_req *r);
int xlmig_simp_parse_reply(const uint8_t *frame, size_t len, uint16_t want,
			   struct xlmig_simp_reply *r);
void xlmig_simp_reply_free(struct xlmig_simp_reply *r);

/* Send a frame with up to XLMIG_SIMP_MAX_FDS descriptors, and receive
 * one (fds that came with it in fds[], *nfds of them; the caller owns
 * them).  XLMIG_E_CLOSED when the peer closed between frames. */
int xlmig_simp_send(int sock, const struct xlmig_buf *frame, const int *fds, size_t nfds);
int xlmig_simp_recv(int sock, struct xlmig_buf *frame, int fds[XLMIG_SIMP_MAX_FDS],
		    size_t *nfds);

const char *xlmig_simp_type_name(uint16_t type);

#endif
