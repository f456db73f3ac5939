/* wuji's store (store.h): the LMDB environment of one node, the layout of
 * its named databases and their keys, and the one place (lmdb_error) where
 * LMDB's and the OS's error codes become WJ_E* codes with a sentence a user
 * can act on. */
#include "storage/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/names.h"

#define DEFAULT_MAP_SIZE (1ULL << 30)
#define MIB ((uint64_t)1024 * 1024)
/* Case numbers and item codes are both parts of item index keys (kind
 * code NUL number), and LMDB keys are at most 511 bytes in the stock
 * build: the limits below are what fits.  Checked against the library at
 * open. */
#define NUMBER_MAX 40
#define ITEM_CODE_MAX 469
#define KEY_MAX (1 + ITEM_CODE_MAX + 1 + NUMBER_MAX)

/* Few databases on purpose.  A commit writes every page it dirtied: for
 * each B-tree it touched, the leaf and the path to the root, and the
 * tree's record in LMDB's main database.  Measured on the project's VM,
 * one put into each of 10 databases took 327 us of CPU per durable
 * commit, the same 10 puts into one database 249 us.  So storing one
 * event touches five databases: meta, cases, events, changelog, index.
 * Small records written with most commits (serials, cursors) share meta's
 * few pages with the counters; every index of cases and events shares one
 * database, told apart by a kind byte (entries of different kinds still
 * sit in different leaves, but share the branch pages and the root). */
enum {
	DB_META,
	DB_CASES,
	DB_EVENTS,
	DB_CHANGELOG,
	DB_INDEX,
	DB_CATALOG,
	DB_CALENDAR,
	N_DBS
};

static const char *const db_names[N_DBS] = {
	[DB_META] = "meta",
	[DB_CASES] = "cases",
	[DB_EVENTS] = "events",
	[DB_CHANGELOG] = "changelog",
	[DB_INDEX] = "index",
	[DB_CATALOG] = "catalog",
	[DB_CALENDAR] = "calendar",
};

/* The first byte of every key of the index database says which index the
 * key belongs to; a scan of one index is bounded by that byte, so it never
 * reads another's keys.  The values are part of the on-disk format. */
enum idx_kind {
	IDX_STATUS = 1,       /* status(1) number */
	IDX_ITEM = 2,         /* item code NUL number */
	IDX_DUE = 3,          /* promised due(4) number: accepted cases */
	IDX_CASE_EVENT = 4,   /* number NUL hlc(8) origin(8) seq(8) */
	N_IDX
};

/* For messages ("missing from the status index"). */
static const char *const idx_names[N_IDX] = {
	[IDX_STATUS] = "status",
	[IDX_ITEM] = "item",
	[IDX_DUE] = "due",
	[IDX_CASE_EVENT] = "case_events",
};

/* Keys of the meta database.  The named values below are ASCII words,
 * each a big-endian uint64 (the schema's key is the same in every schema,
 * so any wuji can tell which schema a store has).
 * log_seq is the last change-log position, kept here rather than derived
 * from the change log's last key so that it never goes back when the log
 * is trimmed; log_trimmed is the highest position trimmed away (peers
 * behind it need a snapshot). */
#define META_SCHEMA "schema"
#define META_NODE "node"
#define META_LAST_SEQ "last_seq"
#define META_EPOCH "epoch"
#define META_LOG_SEQ "log_seq"
#define META_HLC "hlc"
#define META_LOG_TRIMMED "log_trimmed"
/* The other meta keys start with a kind byte below any letter, so that no
 * such key is ever equal to a name:
 *   serial  0x01 day(4) -> last case serial of that day (4)
 *   cursor  0x02 peer(8) slot(8) -> value (8) */
#define META_KIND_SERIAL 0x01
#define META_KIND_CURSOR 0x02
#define META_SERIAL_KEY 5
#define META_CURSOR_KEY 17

/* A change-log value: origin(8) seq(8) from(8). */
#define LOG_VAL_SIZE 24
/* A case_events key after the number and its NUL: hlc(8) origin(8)
 * seq(8). */
#define CASE_EV_TAIL 24
struct wj_store {
	MDB_env *env;
	MDB_dbi dbi[N_DBS];
	uint64_t node;
	int dir_fd;           /* flock()ed while a writer has the store */
	bool read_only;
	uintptr_t map_start, map_end;  /* data.mdb's mapping, once looked up */
	bool map_looked_up;
	bool map_full_seen;   /* a write was refused for want of map */
	/* data.mdb past its last used page: zeros we wrote ahead (see
	 * keep_slack) */
	uint64_t file_end;    /* its size as we know it (0: not known) */
	uint64_t slack_retry; /* after a failed extension: not before this use */
	uint64_t last_used;   /* bytes in use after the last commit */
	uint64_t growth_avg;  /* bytes a commit adds, moving average (x8) */
	uint32_t psize;
	char dir[];
};

struct wj_txn {
	MDB_txn *txn;
	wj_store_t *s;
	wj_txn_t *parent;
	wj_txn_t *child;      /* the live nested transaction, if any */
	bool write;
	/* The first failure that may have left part of a request written (or
	 * that LMDB marked the transaction broken for): commit refuses with
	 * it, so a half-applied request never becomes durable. */
	int failed;
	char fail_msg[sizeof(((wj_err_t *)0)->msg)];
};

/* ------------------------------------------------------------ encoding */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* A key for messages: printable bytes as they are (UTF-8 included),
 * control bytes escaped, long keys cut, so a damaged key cannot garble a
 * log line. */
static const char *printable(const void *data, size_t n, char *buf,
			     size_t size)
{
	const unsigned char *p = data;
	size_t o = 0, i;

	for (i = 0; i < n && o + 8 < size; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' || p[i] == '\\')
			o += snprintf(buf + o, size - o, "\\x%02x", p[i]);
		else
			buf[o++] = p[i];
	}
	if (i < n)
		o += snprintf(buf + o, size - o, "...");
	buf[o] = '\0';
	return buf;
}

/* ------------------------------------------------------------- errors */

static uint64_t map_size_now(const wj_store_t *s)
{
	MDB_envinfo info;

	if (!s || !s->env || mdb_env_info(s->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

/* The one translation of LMDB and OS error codes.  `what` says what was
 * being done ("storing case X"); the sentence adds what to do about it. */
static int lmdb_verror(wj_store_t *s, int rc, wj_err_t *err,
		       const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static int lmdb_verror(wj_store_t *s, int rc, wj_err_t *err,
		       const char *fmt, va_list ap)
{
	const char *dir = s ? s->dir : "?";
	char what[256];
	uint64_t size;

	vsnprintf(what, sizeof(what), fmt, ap);
	switch (rc) {
	case MDB_MAP_FULL:
		if (s)
			s->map_full_seen = true;
		size = map_size_now(s);
		return wj_err_set(err, WJ_EFULL,
			"%s: the store in %s is full (its map is %" PRIu64
			" %s): raise map_size_mb in the config and restart "
			"wuji-node, or free disk space if the disk is the limit",
			what, dir, size >= MIB ? size / MIB : size / 1024,
			size >= MIB ? "MiB" : "KiB");
	case ENOSPC:
	case EDQUOT:
		return wj_err_set(err, WJ_EFULL,
			"%s: %s on the disk holding %s: free disk space (or "
			"raise the quota), or lower map_size_mb in the config "
			"to what the disk can hold",
			what, strerror(rc), dir);
	case MDB_TXN_FULL:
		return wj_err_set(err, WJ_EFULL,
			"%s: the transaction grew beyond what LMDB holds in one "
			"commit: commit smaller groups of requests", what);
	case MDB_NOTFOUND:
		return wj_err_set(err, WJ_ENOTFOUND, "%s: not found", what);
	case MDB_KEYEXIST:
		return wj_err_set(err, WJ_EEXIST, "%s: already stored", what);
	case MDB_MAP_RESIZED:
		return wj_err_set(err, WJ_EBUSY,
			"%s: another process grew the store in %s: close and "
			"reopen it", what, dir);
	case MDB_READERS_FULL:
		return wj_err_set(err, WJ_EBUSY,
			"%s: too many readers of the store in %s: retry, or "
			"stop tools that keep it open", what, dir);
	case EAGAIN:
	case EBUSY:
		return wj_err_set(err, WJ_EBUSY,
			"%s: the store in %s is locked (%s): retry, or stop "
			"the process that holds it", what, dir, strerror(rc));
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_PANIC:
		return wj_err_set(err, WJ_EINTERNAL,
			"%s: %s: the store in %s is damaged: run node-ctl "
			"verify and restore it from a backup or a peer",
			what, mdb_strerror(rc), dir);
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return wj_err_set(err, WJ_EINTERNAL,
			"%s: %s: the store in %s was written by an "
			"incompatible LMDB build: use the wuji that wrote it",
			what, mdb_strerror(rc), dir);
	default:
		if (rc > 0)
			return wj_err_set(err, WJ_EIO,
				"%s: %s: check the disk and the permissions of "
				"%s", what, strerror(rc), dir);
		return wj_err_set(err, WJ_EINTERNAL,
			"%s: %s (LMDB error %d): this is a bug in wuji, "
			"please report it", what, mdb_strerror(rc), rc);
	}
}

static int lmdb_error(wj_store_t *s, int rc, wj_err_t *err,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int lmdb_error(wj_store_t *s, int rc, wj_err_t *err,
		      const char *fmt, ...)
{
	va_list ap;
	int code;

	va_start(ap, fmt);
	code = lmdb_verror(s, rc, err, fmt, ap);
	va_end(ap);
	return code;
}

static void poison(wj_txn_t *t, const wj_err_t *e)
{
	if (!t->write || t->failed)
		return;
	t->failed = e->code ? e->code : WJ_EINTERNAL;
	snprintf(t->fail_msg, sizeof(t->fail_msg), "%s", e->msg);
}

/* An LMDB failure inside a transaction.  Any failure of a write other than
 * "not found" and "exists" leaves LMDB's transaction broken, so it is
 * remembered for commit. */
static int txn_fail(wj_txn_t *t, int rc, wj_err_t *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int txn_fail(wj_txn_t *t, int rc, wj_err_t *err, const char *fmt, ...)
{
	wj_err_t e = { 0 };
	va_list ap;

	va_start(ap, fmt);
	lmdb_verror(t->s, rc, &e, fmt, ap);
	va_end(ap);
	if (rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
		poison(t, &e);
	return wj_err_set(err, e.code, "%s", e.msg);
}

/* A failure after part of a request was written: the transaction must not
 * commit. */
static int txn_broken(wj_txn_t *t, wj_err_t *err, int code, const char *fmt,
		      ...)
	__attribute__((format(printf, 4, 5)));
static int txn_broken(wj_txn_t *t, wj_err_t *err, int code, const char *fmt,
		      ...)
{
	wj_err_t e = { 0 };
	va_list ap;

	va_start(ap, fmt);
	wj_err_vset(&e, code, fmt, ap);
	va_end(ap);
	poison(t, &e);
	return wj_err_set(err, code, "%s", e.msg);
}

/* ------------------------------------------------------------ messages */

/* Stores a record that must be new (MDB_KEYEXIST when its key is taken).
 * Keys mostly come in order: a village's own cases and events, and one
 * child's stream at its parent.  Given an ascending key without
 * MDB_APPEND, LMDB splits a full page by moving its last record onto
 * the new page with the new one, so records of about 1 KiB (a case, an
 * event) sit two or three to a page and a page splits every other
 * insert; MDB_APPEND leaves the full page full.  It refuses (as
 * MDB_KEYEXIST) a key that is not after every stored key, and then the
 * record is stored the ordinary way, which also tells a real duplicate. */
static int put_new(wj_txn_t *t, int db, MDB_val *key, MDB_val *v, unsigned flags)
{
	MDB_val first = *v;
	int rc = mdb_put(t->txn, t->s->dbi[db], key, &first, flags | MDB_APPEND);

	if (rc != MDB_KEYEXIST) {
		*v = first;
		return rc;
	}
	return mdb_put(t->txn, t->s->dbi[db], key, v, flags | MDB_NOOVERWRITE);
}

/* Packs m straight into the space LMDB reserves for the value; `flags`
 * MDB_NOOVERWRITE: a record that must be new (put_new). */
static int put_msg(wj_txn_t *t, int db, MDB_val *key,
		   const ProtobufCMessage *m, unsigned flags)
{
	MDB_val v;
	size_t n;
	int rc;

	v.mv_size = protobuf_c_message_get_packed_size(m);
	v.mv_data = NULL;
	if (flags & MDB_NOOVERWRITE)
		rc = put_new(t, db, key, &v, (flags & ~MDB_NOOVERWRITE) | MDB_RESERVE);
	else
		rc = mdb_put(t->txn, t->s->dbi[db], key, &v, flags | MDB_RESERVE);
	if (rc)
		return rc;
	n = protobuf_c_message_pack(m, v.mv_data);
	/* More would have overrun LMDB's page: nothing is safe after that. */
	wj_require(n == v.mv_size);
	return 0;
}

/* Names a record by its key, for messages: formatted only when there is
 * something to report, as reads sit on the hot path of every hop. */
static void key_name(int db, const MDB_val *k, char *buf, size_t n)
{
	/* get_msg reads cases and catalog items: both keyed by text. */
	const char *kind = db == DB_CASES ? "case" : db == DB_CATALOG ? "catalog item"
							      : db_names[db];
	int len = k->mv_size > 60 ? 60 : (int)k->mv_size;

	snprintf(buf, n, "%s %.*s", kind, len, (const char *)k->mv_data);
}

/* Returns 0, WJ_ENOTFOUND (err untouched: the caller knows what to say) or
 * another WJ_E* code with err set. */
static int get_msg(wj_txn_t *t, int db, MDB_val *key,
		   const ProtobufCMessageDescriptor *desc, wj_arena_t *a,
		   ProtobufCMessage **out, wj_err_t *err)
{
	ProtobufCMessage *m;
	MDB_val v;
	char what[96];
	int rc;

	rc = mdb_get(t->txn, t->s->dbi[db], key, &v);
	if (rc == MDB_NOTFOUND)
		return WJ_ENOTFOUND;
	if (rc) {
		key_name(db, key, what, sizeof(what));
		return txn_fail(t, rc, err, "reading %s", what);
	}
	m = protobuf_c_message_unpack(desc, &a->pb, v.mv_size, v.mv_data);
	if (!m) {
		key_name(db, key, what, sizeof(what));
		return wj_err_set(err, WJ_EINTERNAL,
			"%s in the store does not decode: run node-ctl verify",
			what);
	}
	*out = m;
	return 0;
}

static int check_number(const char *number, wj_err_t *err)
{
	size_t n = number ? strlen(number) : 0;

	if (n == 0)
		return wj_err_set(err, WJ_EBADREQ,
				  "a case number is required: give one");
	if (n > NUMBER_MAX)
		return wj_err_set(err, WJ_EBADREQ,
			"case number \"%.40s...\" is longer than %d bytes: "
			"check it", number, NUMBER_MAX);
	return 0;
}

static int check_item_code(const char *code, bool may_be_empty,
			   wj_err_t *err)
{
	size_t n = code ? strlen(code) : 0;

	if (n == 0 && !may_be_empty)
		return wj_err_set(err, WJ_EBADREQ,
				  "an item code is required: give one");
	if (n > ITEM_CODE_MAX)
		return wj_err_set(err, WJ_EBADREQ,
			"item code \"%.40s...\" is longer than %d bytes: "
			"shorten it in the catalog", code, ITEM_CODE_MAX);
	return 0;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* ------------------------------------------------------------- meta */

static int meta_get(wj_txn_t *t, const char *name, uint64_t *out,
		    wj_err_t *err)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	int rc;

	rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		return wj_err_set(err, WJ_EINTERNAL,
			"the store in %s has no %s in its meta database: it is "
			"damaged: run node-ctl verify", t->s->dir, name);
	if (rc)
		return txn_fail(t, rc, err, "reading %s from the store", name);
	if (v.mv_size != 8)
		return wj_err_set(err, WJ_EINTERNAL,
			"the store in %s has a %zu-byte %s in its meta database "
			"(8 expected): it is damaged: run node-ctl verify",
			t->s->dir, v.mv_size, name);
	*out = get_be64(v.mv_data);
	return 0;
}

static int meta_put(wj_txn_t *t, const char *name, uint64_t val,
		    wj_err_t *err)
{
	unsigned char buf[8];
	MDB_val k = { strlen(name), (void *)name }, v = { 8, buf };
	int rc;

	put_be64(buf, val);
	rc = mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0);
	if (rc)
		return txn_fail(t, rc, err, "storing %s", name);
	return 0;
}

/* A meta value that stores made before it existed lack: absent = 0. */
static int meta_get_or_zero(wj_txn_t *t, const char *name, uint64_t *out,
			    wj_err_t *err)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	int rc;

	rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (rc)
		return txn_fail(t, rc, err, "reading %s from the store", name);
	if (v.mv_size != 8)
		return wj_err_set(err, WJ_EINTERNAL,
			"the store in %s has a %zu-byte %s in its meta database "
			"(8 expected): it is damaged: run node-ctl verify",
			t->s->dir, v.mv_size, name);
	*out = get_be64(v.mv_data);
	return 0;
}

/* ------------------------------------------------------------- slack */

/* A commit that writes pages past the end of data.mdb makes the file
 * system allocate blocks and the fdatasync write the inode as well as the
 * pages: on the project's VM (ext4) a commit of 13 pages took 0.39 ms and
 * 175 us of CPU appending, 0.25 ms and 108 us overwriting blocks written
 * before.  So the file is kept some way ahead of LMDB with zeros, written
 * after a commit, when no transaction writes: LMDB overwrites them as it
 * grows into them.  Only past what is in use, so no page of the store is
 * ever touched, and LMDB never reads there (readers and copies stop at
 * the last page the meta page names).  Under LMDB's writer lock, so that
 * not even a raw LMDB writer in another process (which the directory's
 * lock does not keep out) can have pages there not yet committed.  Not
 * while commits are large (a burst): the zeros would double what is
 * written, and each such commit's own cost dwarfs what appending adds to
 * it (W1's burst ran 7 % slower with them). */
#define SLACK (1 * MIB)              /* kept ahead, at most */
#define SLACK_STEP (256 * 1024)      /* written at once: a commit's worth */
#define SLACK_GROWTH_MAX (64 * 1024) /* a commit's growth, on average, beyond
					which there is no slack */

/* Bytes of data.mdb the last commit uses (up to its last page), with the
 * map's size; false when LMDB cannot say. */
static bool bytes_used(const wj_store_t *s, uint64_t *used, uint64_t *map_size)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return false;
	*used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
	*map_size = info.me_mapsize;
	return true;
}

/* At open: where the file ends (zeros a previous run left count) and what
 * the store uses. */
static void slack_init(wj_store_t *s)
{
	MDB_stat ms;
	mdb_filehandle_t fd;
	struct stat fst;
	uint64_t map_size;

	if (s->read_only || mdb_env_stat(s->env, &ms) != 0 ||
	    mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &fst) != 0)
		return;
	s->psize = ms.ms_psize;
	s->file_end = (uint64_t)fst.st_size;
	if (!bytes_used(s, &s->last_used, &map_size))
		s->last_used = 0;
}

static void keep_slack(wj_store_t *s)
{
	static char zeros[SLACK_STEP]; /* never written: in .bss, not the binary */
	uint64_t used, map_size, now_used;
	mdb_filehandle_t fd;

	if (s->psize == 0 || !bytes_used(s, &used, &map_size) ||
	    mdb_env_get_fd(s->env, &fd) != 0)
		return;
	if (s->file_end < used)
		s->file_end = used; /* LMDB wrote its pages past our zeros */
	uint64_t grew = s->last_used && used > s->last_used ? used - s->last_used : 0;
	s->last_used = used;
	s->growth_avg = s->growth_avg - s->growth_avg / 8 + grew;
	if (s->growth_avg / 8 > SLACK_GROWTH_MAX)
		return;
	/* A step at a time, so that no commit waits for much more. */
	if (s->file_end - used > SLACK - SLACK_STEP || used < s->slack_retry ||
	    s->file_end + SLACK_STEP > map_size)
		return;
	MDB_txn *lock;
	if (mdb_txn_begin(s->env, NULL, 0, &lock) != 0)
		return;
	if (bytes_used(s, &now_used, &map_size) && now_used > s->file_end)
		s->file_end = now_used;
	ssize_t w = pwrite(fd, zeros, SLACK_STEP, (off_t)s->file_end);
	mdb_txn_abort(lock);
	if (w <= 0) {
		/* A full disk, say (LMDB's own writes say so): try again
		 * once it has grown the file a step. */
		s->slack_retry = used + SLACK_STEP;
		return;
	}
	/* Written back now rather than by the next commit's fdatasync. */
	sync_file_range(fd, (off_t)s->file_end, w, SYNC_FILE_RANGE_WRITE);
	s->file_end += (uint64_t)w;
}

/* ------------------------------------------------------- open and close */

/* A random epoch, never 0 (a peer would read it as "no epoch") and never
 * `old` (peers would trust positions of the log it replaces). */
static int draw_epoch(uint64_t old, uint64_t *out, wj_err_t *err)
{
	uint64_t epoch = 0;
	int i;

	if (sodium_init() < 0)
		return wj_err_set(err, WJ_EINTERNAL,
			"libsodium could not initialise, so no store epoch can "
			"be drawn: check that /dev/urandom is readable");
	/* Bounded: a repeat in a row of four draws means the generator is
	 * broken. */
	for (i = 0; i < 4 && (epoch == 0 || epoch == old); i++)
		randombytes_buf(&epoch, sizeof(epoch));
	if (epoch == 0 || epoch == old)
		return wj_err_set(err, WJ_EINTERNAL,
			"the random generator keeps returning the same value: "
			"check libsodium and /dev/urandom");
	*out = epoch;
	return 0;
}

static int create_meta(wj_txn_t *t, uint64_t node, wj_err_t *err)
{
	uint64_t epoch;
	int rc;

	if ((rc = draw_epoch(0, &epoch, err)))
		return rc;
	if ((rc = meta_put(t, META_SCHEMA, WJ_SCHEMA_VERSION, err)) ||
	    (rc = meta_put(t, META_NODE, node, err)) ||
	    (rc = meta_put(t, META_LAST_SEQ, 0, err)) ||
	    (rc = meta_put(t, META_LOG_SEQ, 0, err)) ||
	    (rc = meta_put(t, META_LOG_TRIMMED, 0, err)) ||
	    (rc = meta_put(t, META_EPOCH, epoch, err)))
		return rc;
	return 0;
}

/* Opens the databases, creating the store's meta when it is new, and
 * refuses a store of another schema or node.  The handles stay valid for
 * the life of the environment once this transaction commits. */
static int open_dbs(wj_store_t *s, const wj_store_opts_t *opts, wj_err_t *err)
{
	wj_txn_t t = { .s = s, .write = !s->read_only };
	unsigned dflags = s->read_only ? 0 : MDB_CREATE;
	uint64_t schema, node;
	MDB_val k = { strlen(META_SCHEMA), (void *)META_SCHEMA }, v;
	MDB_stat st;
	int i, rc;

	rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0,
			   &t.txn);
	if (rc)
		return lmdb_error(s, rc, err, "starting to open the store");
	rc = mdb_dbi_open(t.txn, db_names[DB_META], dflags, &s->dbi[DB_META]);
	if (rc == MDB_NOTFOUND) {
		rc = wj_err_set(err, WJ_ENOTFOUND,
			"there is no wuji store in %s: check data_dir, or start "
			"wuji-node once to create it", s->dir);
		goto fail;
	}
	if (rc) {
		rc = lmdb_error(s, rc, err, "opening the meta database");
		goto fail;
	}

	rc = mdb_get(t.txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = mdb_stat(t.txn, s->dbi[DB_META], &st);
		if (rc) {
			rc = lmdb_error(s, rc, err, "reading the meta database");
			goto fail;
		}
		if (s->read_only) {
			rc = wj_err_set(err, WJ_ENOTFOUND,
				"there is no wuji store in %s: check data_dir, "
				"or start wuji-node once to create it", s->dir);
			goto fail;
		}
		if (st.ms_entries != 0) {
			rc = wj_err_set(err, WJ_EINTERNAL,
				"the store in %s has no schema version: it is "
				"damaged: restore it from a backup or use "
				"another data directory", s->dir);
			goto fail;
		}
		if ((rc = create_meta(&t, opts->node, err)))
			goto fail;
	} else if (rc) {
		rc = lmdb_error(s, rc, err, "reading the schema version");
		goto fail;
	}

	if ((rc = meta_get(&t, META_SCHEMA, &schema, err)))
		goto fail;
	if (schema > WJ_SCHEMA_VERSION) {
		rc = wj_err_set(err, WJ_ESCHEMA,
			"data directory %s was written by schema %" PRIu64
			", this wuji understands up to %d: upgrade wuji or use "
			"another data directory", s->dir, schema,
			WJ_SCHEMA_VERSION);
		goto fail;
	}
	/* No upgrade in place: what a node stores, its parent and children
	 * hold too, and an empty store refills from them (the path a node
	 * restored from an old backup takes), which is safer than a one-off
	 * converter nobody runs twice. */
	if (schema < WJ_SCHEMA_VERSION) {
		rc = wj_err_set(err, WJ_ESCHEMA,
			"data directory %s was written by an older wuji "
			"(schema %" PRIu64 "; this one uses %d and cannot "
			"convert it): move it aside and start wuji-node on an "
			"empty data_dir: the node fetches its area's cases "
			"again from its parent and children (reload a catalog "
			"or calendar loaded here); or keep the wuji that wrote "
			"it",
			s->dir, schema, WJ_SCHEMA_VERSION);
		goto fail;
	}
	if ((rc = meta_get(&t, META_NODE, &node, err)))
		goto fail;
	if (opts->node != 0 && node != opts->node) {
		rc = wj_err_set(err, WJ_EINVAL,
			"data directory %s belongs to node %012" PRIu64
			", not %012" PRIu64 ": check node in the config, or "
			"point data_dir at this node's own directory",
			s->dir, node, opts->node);
		goto fail;
	}
	s->node = node;

	for (i = 0; i < N_DBS; i++) {
		if (i == DB_META)
			continue;
		rc = mdb_dbi_open(t.txn, db_names[i], dflags, &s->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			rc = wj_err_set(err, WJ_EINTERNAL,
				"the store in %s has no %s database: it is "
				"damaged or incomplete: open it once with "
				"wuji-node, or restore it from a backup",
				s->dir, db_names[i]);
			goto fail;
		}
		if (rc) {
			rc = lmdb_error(s, rc, err, "opening the %s database",
					db_names[i]);
			goto fail;
		}
	}
	rc = mdb_txn_commit(t.txn);
	if (rc)
		return lmdb_error(s, rc, err, "creating the store");
	return 0;
fail:
	mdb_txn_abort(t.txn);
	return rc;
}

/* Two daemons writing one store would each think they own its sequence
 * numbers' meaning for replication; LMDB would only serialise them.  A
 * flock on the directory (never on LMDB's files, whose fcntl locks a
 * second descriptor would break) makes the second one fail at start. */
static int lock_dir(wj_store_t *s, wj_err_t *err)
{
	s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return lmdb_error(s, errno, err, "opening data directory %s",
				  s->dir);
	if (flock(s->dir_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return wj_err_set(err, WJ_EBUSY,
				"data directory %s is in use by another "
				"wuji-node: stop it, or give this one its own "
				"data_dir", s->dir);
		return lmdb_error(s, errno, err, "locking data directory %s",
				  s->dir);
	}
	return 0;
}

static int prepare_dir(const char *dir, bool read_only, wj_err_t *err)
{
	char path[4096];
	struct stat st;

	if (read_only) {
		if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
		    sizeof(path))
			return wj_err_set(err, WJ_EINVAL,
				"data directory path %.60s... is too long: "
				"use a shorter one", dir);
		if (stat(path, &st) != 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return wj_err_set(err, WJ_ENOTFOUND,
					"there is no wuji store in %s: check "
					"data_dir, or start wuji-node once to "
					"create it", dir);
			return wj_err_set(err, WJ_EIO,
				"cannot read %s: %s: check its permissions",
				path, strerror(errno));
		}
		return 0;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return wj_err_set(err, WJ_EIO,
			"cannot create data directory %s: %s: create it (and "
			"its parents) or fix data_dir in the config",
			dir, strerror(errno));
	if (stat(dir, &st) != 0)
		return wj_err_set(err, WJ_EIO, "cannot read data directory %s: "
				  "%s: check its permissions", dir,
				  strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return wj_err_set(err, WJ_EINVAL,
			"data directory %s is not a directory: fix data_dir in "
			"the config", dir);
	return 0;
}

int wj_store_open(const char *dir, const wj_store_opts_t *opts,
		  wj_store_t **out, wj_err_t *err)
{
	static const wj_store_opts_t defaults;
	wj_store_t *s;
	unsigned flags;
	int dead, rc;

	if (!opts)
		opts = &defaults;
	if (!dir || !*dir)
		return wj_err_set(err, WJ_EINVAL,
			"no data directory given: set data_dir in the config");
	if (!opts->read_only && opts->node == 0)
		return wj_err_set(err, WJ_EINVAL,
			"a store can only be written for a known node: set "
			"node in the config");
	if ((rc = prepare_dir(dir, opts->read_only, err)))
		return rc;

	s = calloc(1, sizeof(*s) + strlen(dir) + 1);
	if (!s)
		return wj_err_set(err, WJ_EINTERNAL,
				  "out of memory opening the store in %s", dir);
	strcpy(s->dir, dir);
	s->dir_fd = -1;
	s->read_only = opts->read_only;
	if (!s->read_only && (rc = lock_dir(s, err)))
		goto fail;

	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		rc = lmdb_error(s, rc, err, "creating the LMDB environment");
		goto fail;
	}
	if ((rc = mdb_env_set_maxdbs(s->env, N_DBS)) ||
	    (rc = mdb_env_set_mapsize(s->env, opts->map_size ?
				      opts->map_size : DEFAULT_MAP_SIZE))) {
		rc = lmdb_error(s, rc, err, "setting up the store in %s", dir);
		goto fail;
	}
	if (mdb_env_get_maxkeysize(s->env) < KEY_MAX) {
		rc = wj_err_set(err, WJ_EINTERNAL,
			"this LMDB build takes keys of %d bytes at most, wuji "
			"needs %d: link wuji against a stock LMDB",
			mdb_env_get_maxkeysize(s->env), KEY_MAX);
		goto fail;
	}
	/* No NOSYNC, NOMETASYNC or WRITEMAP: a commit that returned is on
	 * disk.  NOTLS: read transactions are not tied to a thread. */
	flags = MDB_NOTLS | MDB_NORDAHEAD | (s->read_only ? MDB_RDONLY : 0);
	rc = mdb_env_open(s->env, dir, flags, 0640);
	if (rc) {
		rc = lmdb_error(s, rc, err, "opening the store in %s", dir);
		goto fail;
	}
	/* Reader slots of processes that died (a crashed node-ctl) would pin
	 * old pages forever. */
	mdb_reader_check(s->env, &dead);
	if ((rc = open_dbs(s, opts, err)))
		goto fail;
	slack_init(s);
	*out = s;
	return 0;
fail:
	wj_store_close(s);
	return rc;
}

void wj_store_close(wj_store_t *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s);
}

/* -------------------------------------------------------- transactions */

static int txn_new(wj_store_t *s, wj_txn_t *parent, bool write,
		   wj_txn_t **out, wj_err_t *err)
{
	wj_txn_t *t;
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t)
		return wj_err_set(err, WJ_EINTERNAL,
				  "out of memory starting a transaction");
	t->s = s;
	t->write = write;
	rc = mdb_txn_begin(s->env, parent ? parent->txn : NULL,
			   write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return lmdb_error(s, rc, err, "starting a transaction");
	}
	if (parent) {
		t->parent = parent;
		parent->child = t;
	}
	*out = t;
	return 0;
}

int wj_txn_begin(wj_store_t *s, bool write, wj_txn_t **out, wj_err_t *err)
{
	if (write && s->read_only)
		return wj_err_set(err, WJ_EINVAL,
			"the store in %s was opened read-only: stop the tool "
			"and let wuji-node write it", s->dir);
	return txn_new(s, NULL, write, out, err);
}

int wj_txn_begin_nested(wj_txn_t *parent, wj_txn_t **out, wj_err_t *err)
{
	if (!parent->write)
		return wj_err_set(err, WJ_EINTERNAL,
			"a nested transaction needs a write transaction as "
			"parent: this is a bug in wuji");
	if (parent->child)
		return wj_err_set(err, WJ_EINTERNAL,
			"the transaction has a nested one open already: this "
			"is a bug in wuji");
	if (parent->failed)
		return wj_err_set(err, parent->failed, "%s", parent->fail_msg);
	return txn_new(parent->s, parent, true, out, err);
}

static void txn_free(wj_txn_t *t)
{
	if (t->parent)
		t->parent->child = NULL;
	free(t);
}

void wj_txn_abort(wj_txn_t *t)
{
	if (!t)
		return;
	/* LMDB would abort the child with its parent; the wrapper must go
	 * too. */
	if (t->child)
		wj_txn_abort(t->child);
	mdb_txn_abort(t->txn);
	txn_free(t);
}

int wj_txn_commit(wj_txn_t *t, wj_err_t *err)
{
	wj_txn_t *parent;
	int rc;

	if (!t)
		return wj_err_set(err, WJ_EINTERNAL,
				  "commit without a transaction: a bug in wuji");
	if (wj_fails_assert(t->child == NULL))
		wj_txn_abort(t->child);
	if (t->failed) {
		rc = wj_err_set(err, t->failed, "%s", t->fail_msg);
		wj_txn_abort(t);
		return rc;
	}
	parent = t->parent;
	rc = mdb_txn_commit(t->txn);
	if (rc) {
		wj_err_t e = { 0 };

		lmdb_error(t->s, rc, &e, "committing to the store");
		/* A child that failed to merge may have left its parent
		 * half-changed: keep the parent from committing. */
		if (parent)
			poison(parent, &e);
		txn_free(t);
		return wj_err_set(err, e.code, "%s", e.msg);
	}
	if (parent == NULL && t->write)
		keep_slack(t->s);
	txn_free(t);
	return 0;
}

/* ------------------------------------------------------ seqs and meta */

int wj_store_meta(wj_txn_t *t, wj_store_meta_t *out)
{
	wj_store_meta_t m = { 0 };
	uint64_t schema;
	int rc;

	if ((rc = meta_get(t, META_SCHEMA, &schema, NULL)) ||
	    (rc = meta_get(t, META_NODE, &m.node, NULL)) ||
	    (rc = meta_get(t, META_LAST_SEQ, &m.last_seq, NULL)) ||
	    (rc = meta_get(t, META_EPOCH, &m.epoch, NULL)) ||
	    (rc = meta_get_or_zero(t, META_HLC, &m.hlc, NULL)))
		return rc;
	m.schema = (uint32_t)schema;
	wj_store_map_usage(t->s, &m.map_used, &m.map_size);
	*out = m;
	return 0;
}

void wj_store_map_usage(wj_store_t *s, uint64_t *used, uint64_t *size)
{
	MDB_envinfo info;
	MDB_stat st;

	*used = *size = 0;
	if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0) {
		*size = info.me_mapsize;
		*used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	}
	/* These are the last commit's: a write that went from under the mark
	 * to past the end was refused and left them as they were. */
	if (s->map_full_seen)
		*used = *size;
}

bool wj_store_fill_warning(uint64_t used, uint64_t size, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	if (size == 0 || (double)used < (double)size * WJ_STORE_FULL_WARN_PCT / 100)
		return false;
	/* Rounded down: "100% full" only when it is. */
	snprintf(buf, len, "store %d%% full (%.1f of %.1f MiB): raise map_size_mb in the "
		 "config and restart before it fills, as a full store takes no more writes",
		 (int)(100.0 * (double)used / (double)size), (double)used / (1 << 20),
		 (double)size / (1 << 20));
	return true;
}

/* LMDB does not say where it mapped the file (me_mapaddr is set only for
 * MDB_FIXEDMAP), so the mapping is looked up once in /proc/self/maps, by
 * the data file's device and inode: its path there is the kernel's, not
 * the data_dir of the config (a trailing slash or a symlink differ). */
static void find_map(wj_store_t *s)
{
	struct stat st;
	mdb_filehandle_t fd;
	char line[PATH_MAX + 128];

	s->map_looked_up = true;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0)
		return;
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, ino;
		unsigned maj, min;
		if (sscanf(line, "%lx-%lx %*s %*x %x:%x %lu", &start, &end, &maj, &min, &ino) != 5 ||
		    ino != (unsigned long)st.st_ino || maj != major(st.st_dev) ||
		    min != minor(st.st_dev))
			continue;
		if (end - start > s->map_end - s->map_start) {
			s->map_start = start;
			s->map_end = end;
		}
	}
	fclose(f);
}

int wj_store_release_pages(wj_store_t *s)
{
	if (!s->map_looked_up)
		find_map(s);
	if (s->map_start == 0)
		return -1;
	/* The map is read-only and shared (writes go through pwrite), so
	 * dropping its pages loses nothing: they come back from the page
	 * cache on the next read. */
	madvise((void *)s->map_start, s->map_end - s->map_start, MADV_DONTNEED);
	return 0;
}

int wj_store_save_hlc(wj_txn_t *t, uint64_t hlc, wj_err_t *err)
{
	uint64_t cur = 0;
	int rc = meta_get_or_zero(t, META_HLC, &cur, err);
	if (rc != 0 || hlc <= cur)
		return rc;
	return meta_put(t, META_HLC, hlc, err);
}

int wj_store_next_seq(wj_txn_t *t, uint64_t *seq, wj_err_t *err)
{
	uint64_t last;
	int rc;

	if ((rc = meta_get(t, META_LAST_SEQ, &last, err)))
		return rc;
	if (last == UINT64_MAX)
		return wj_err_set(err, WJ_EINTERNAL,
			"the event seq of the store in %s is exhausted: the "
			"store is damaged", t->s->dir);
	if ((rc = meta_put(t, META_LAST_SEQ, last + 1, err)))
		return rc;
	*seq = last + 1;
	return 0;
}

static void serial_key(unsigned char *buf, wj_date_t day)
{
	buf[0] = META_KIND_SERIAL;
	put_be32(buf + 1, (uint32_t)day);
}

static int serial_get(wj_txn_t *t, wj_date_t day, uint32_t *last,
		      wj_err_t *err)
{
	unsigned char kb[META_SERIAL_KEY];
	MDB_val k = { sizeof(kb), kb }, v;
	int rc;

	if (day <= 0)
		return wj_err_set(err, WJ_EINVAL,
			"day %d is not a date: a bug in wuji", (int)day);
	serial_key(kb, day);
	rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		*last = 0;
		return 0;
	}
	if (rc)
		return txn_fail(t, rc, err, "reading the serial of day %d",
				(int)day);
	if (v.mv_size != 4)
		return wj_err_set(err, WJ_EINTERNAL,
			"the serial of day %d is damaged in the store: run "
			"node-ctl verify", (int)day);
	*last = get_be32(v.mv_data);
	return 0;
}

static int serial_put(wj_txn_t *t, wj_date_t day, uint32_t last,
		      wj_err_t *err)
{
	unsigned char kb[META_SERIAL_KEY], vb[4];
	MDB_val k = { sizeof(kb), kb }, v = { 4, vb };
	int rc;

	serial_key(kb, day);
	put_be32(vb, last);
	rc = mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0);
	if (rc)
		return txn_fail(t, rc, err, "storing the serial of day %d",
				(int)day);
	return 0;
}

int wj_store_next_serial(wj_txn_t *t, wj_date_t day, uint32_t *serial,
			 wj_err_t *err)
{
	uint32_t last;
	int rc;

	if ((rc = serial_get(t, day, &last, err)))
		return rc;
	if (last >= WJ_STORE_SERIAL_MAX)
		return wj_err_set(err, WJ_EINVAL,
			"day %d has used every case serial (%u): no more cases "
			"can be numbered here that day", (int)day,
			WJ_STORE_SERIAL_MAX);
	if ((rc = serial_put(t, day, last + 1, err)))
		return rc;
	*serial = last + 1;
	return 0;
}

/* Restoring never lowers a counter: a lower value from a peer only means
 * the peer has not heard of everything this node issued. */
int wj_store_raise_seq(wj_txn_t *t, uint64_t at_least, wj_err_t *err)
{
	uint64_t last;
	int rc;

	if ((rc = meta_get(t, META_LAST_SEQ, &last, err)))
		return rc;
	if (at_least <= last)
		return 0;
	return meta_put(t, META_LAST_SEQ, at_least, err);
}

int wj_store_serial(wj_txn_t *t, wj_date_t day, uint32_t *last, wj_err_t *err)
{
	return serial_get(t, day, last, err);
}

int wj_store_raise_serial(wj_txn_t *t, wj_date_t day, uint32_t at_least,
			  wj_err_t *err)
{
	uint32_t last;
	int rc;

	if ((rc = serial_get(t, day, &last, err)))
		return rc;
	if (at_least <= last)
		return 0;
	return serial_put(t, day, at_least, err);
}

int wj_store_new_epoch(wj_txn_t *t, uint64_t *epoch, wj_err_t *err)
{
	uint64_t old, e;
	int rc;

	if ((rc = meta_get(t, META_EPOCH, &old, err)) ||
	    (rc = draw_epoch(old, &e, err)) ||
	    (rc = meta_put(t, META_EPOCH, e, err)))
		return rc;
	if (epoch)
		*epoch = e;
	return 0;
}

/* --------------------------------------------------------------- cases */

/* Index keys: the kind byte, then the index's own key (see enum
 * idx_kind).  Each returns the key's length. */
static size_t status_key(unsigned char *buf, Wuji__CaseStatus st,
			 const char *number)
{
	size_t n = strlen(number);

	buf[0] = IDX_STATUS;
	buf[1] = (unsigned char)st;
	memcpy(buf + 2, number, n);
	return n + 2;
}

static size_t item_key(unsigned char *buf, const char *code,
		       const char *number)
{
	size_t c = strlen(code), n = strlen(number);

	buf[0] = IDX_ITEM;
	memcpy(buf + 1, code, c);
	buf[1 + c] = '\0';
	memcpy(buf + 2 + c, number, n);
	return 2 + c + n;
}

/* The due index holds only cases whose clock runs. */
static bool has_due(const Wuji__Case *c)
{
	return c->status == WUJI__CASE_STATUS__ACCEPTED && c->promised_due > 0;
}

static size_t due_key(unsigned char *buf, int32_t due, const char *number)
{
	size_t n = strlen(number);

	buf[0] = IDX_DUE;
	put_be32(buf + 1, (uint32_t)due);
	memcpy(buf + 5, number, n);
	return n + 5;
}

/* Replaces an index entry old by new (either may be absent).  A missing
 * old entry is not an error: the end state is what counts, and verify
 * reports an index that was already wrong. */
static int idx_move(wj_txn_t *t, enum idx_kind kind, const unsigned char *ok,
		    size_t on, const unsigned char *nk, size_t nn,
		    const char *number, wj_err_t *err)
{
	MDB_val k, v = { 0, "" };
	int rc;

	if (ok && nk && on == nn && memcmp(ok, nk, on) == 0)
		return 0;
	if (ok) {
		k.mv_size = on;
		k.mv_data = (void *)ok;
		rc = mdb_del(t->txn, t->s->dbi[DB_INDEX], &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return txn_fail(t, rc, err, "updating the %s index "
					"for case %s", idx_names[kind], number);
	}
	if (nk) {
		k.mv_size = nn;
		k.mv_data = (void *)nk;
		rc = mdb_put(t->txn, t->s->dbi[DB_INDEX], &k, &v, 0);
		if (rc)
			return txn_fail(t, rc, err, "updating the %s index "
					"for case %s", idx_names[kind], number);
	}
	return 0;
}

int wj_store_case_get(wj_txn_t *t, const char *number, wj_arena_t *a,
		      Wuji__Case **out, wj_err_t *err)
{
	MDB_val k;
	int rc;

	if ((rc = check_number(number, err)))
		return rc;
	k.mv_size = strlen(number);
	k.mv_data = (void *)number;
	rc = get_msg(t, DB_CASES, &k, &wuji__case__descriptor, a,
		     (ProtobufCMessage **)out, err);
	if (rc == WJ_ENOTFOUND)
		return wj_err_set(err, WJ_ENOTFOUND,
			"case %s not found: check the number (node-ctl list "
			"shows the cases)", number);
	return rc;
}

int wj_store_case_put(wj_txn_t *t, const Wuji__Case *old,
		      const Wuji__Case *c, wj_err_t *err)
{
	unsigned char okey[KEY_MAX], nkey[KEY_MAX];
	const char *code = str_or_empty(c->item_code);
	const char *ocode;
	Wuji__Case tmp;
	MDB_val k;
	size_t on, nn;
	int rc;

	if ((rc = check_number(c->number, err)) ||
	    (rc = check_item_code(code, true, err)))
		return rc;
	if (c->status <= 0 || c->status > 255)
		return wj_err_set(err, WJ_EINVAL,
			"case %s has no valid status (%d): a bug in wuji",
			c->number, (int)c->status);
	if (old) {
		ocode = str_or_empty(old->item_code);
		if (!old->number || strcmp(old->number, c->number) != 0 ||
		    strlen(ocode) > ITEM_CODE_MAX)
			return wj_err_set(err, WJ_EINTERNAL,
				"the old state given for case %s is another "
				"case's: a bug in wuji", c->number);
	}

	/* warning and days_left depend on the day the case is read. */
	tmp = *c;
	tmp.warning = WUJI__WARNING__WARNING_NONE;
	tmp.days_left = 0;
	k.mv_size = strlen(c->number);
	k.mv_data = (void *)c->number;
	rc = put_msg(t, DB_CASES, &k, &tmp.base, old ? 0 : MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return wj_err_set(err, WJ_EEXIST,
			"case %s exists already: it cannot be created again",
			c->number);
	if (rc)
		return txn_fail(t, rc, err, "storing case %s", c->number);

	if (old) {
		on = status_key(okey, old->status, old->number);
		nn = status_key(nkey, c->status, c->number);
		rc = idx_move(t, IDX_STATUS, okey, on, nkey, nn, c->number,
			      err);
		if (rc)
			return rc;
		on = item_key(okey, ocode, old->number);
		nn = item_key(nkey, code, c->number);
		rc = idx_move(t, IDX_ITEM, okey, on, nkey, nn, c->number,
			      err);
		if (rc)
			return rc;
		on = has_due(old) ? due_key(okey, old->promised_due,
					    old->number) : 0;
		nn = has_due(c) ? due_key(nkey, c->promised_due, c->number) : 0;
		return idx_move(t, IDX_DUE, on ? okey : NULL, on,
				nn ? nkey : NULL, nn, c->number, err);
	}
	nn = status_key(nkey, c->status, c->number);
	if ((rc = idx_move(t, IDX_STATUS, NULL, 0, nkey, nn, c->number,
			   err)))
		return rc;
	nn = item_key(nkey, code, c->number);
	if ((rc = idx_move(t, IDX_ITEM, NULL, 0, nkey, nn, c->number, err)))
		return rc;
	if (!has_due(c))
		return 0;
	nn = due_key(nkey, c->promised_due, c->number);
	return idx_move(t, IDX_DUE, NULL, 0, nkey, nn, c->number, err);
}

/* ------------------------------------------------------------- scanning */

/* Called with a key and value that point into the map: a visit must copy
 * or decode what it needs before it lets anything write. */
typedef int (*scan_fn)(wj_txn_t *t, const MDB_val *key, const MDB_val *val,
		       void *ctx, wj_err_t *err);

/* Visits, in key order, the keys of db that start with prefix, from key
 * `from` on (strictly after it when `after`).  In a write transaction the
 * cursor is reopened and repositioned after the last key for every visit,
 * so a visit may write to any database, this one included, and may open a
 * nested transaction; a read transaction keeps one cursor.  Stops at the
 * first non-zero return, which it returns. */
static int scan(wj_txn_t *t, int db, const void *prefix, size_t plen,
		const void *from, size_t flen, bool after, scan_fn fn,
		void *ctx, wj_err_t *err)
{
	unsigned char last[KEY_MAX + 64];
	size_t llen = flen;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if (flen > sizeof(last))
		return wj_err_set(err, WJ_EBADREQ,
				  "scan key too long: a bug in wuji");
	if (flen)
		memcpy(last, from, flen);
	for (;;) {
		if (cur) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		} else {
			rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
			if (rc)
				return txn_fail(t, rc, err, "reading the %s "
						"database", db_names[db]);
			k.mv_size = llen;
			k.mv_data = last;
			rc = mdb_cursor_get(cur, &k, &v,
					    llen ? MDB_SET_RANGE : MDB_FIRST);
			if (rc == 0 && after && k.mv_size == llen &&
			    memcmp(k.mv_data, last, llen) == 0)
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && plen && (k.mv_size < plen ||
					 memcmp(k.mv_data, prefix, plen) != 0))) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = txn_fail(t, rc, err, "reading the %s database",
				      db_names[db]);
			break;
		}
		if (k.mv_size > sizeof(last)) {
			rc = wj_err_set(err, WJ_EINTERNAL,
				"a %zu-byte key in the %s database: the store "
				"is damaged: run node-ctl verify", k.mv_size,
				db_names[db]);
			break;
		}
		if (t->write) {
			memcpy(last, k.mv_data, k.mv_size);
			llen = k.mv_size;
			after = true;
			/* k and v still point into the map: valid until
			 * something writes, which the visit may only do
			 * after decoding them. */
			mdb_cursor_close(cur);
			cur = NULL;
		}
		if ((rc = fn(t, &k, &v, ctx, err)))
			break;
	}
	if (cur)
		mdb_cursor_close(cur);
	return rc;
}

struct case_scan {
	const wj_case_filter_t *f;
	/* Each case is decoded here, emptied before the next: a scan over a
	 * whole store costs one case of memory, whatever it skips. */
	wj_arena_t scratch;
	wj_case_visit_cb cb;
	void *ctx;
	size_t skip;          /* bytes of index key before the number */
	int32_t up_to;        /* due scan */
	bool due, past;
};

static int decode_case(wj_txn_t *t, const MDB_val *v, const void *num,
		       size_t n, wj_arena_t *a, Wuji__Case **out,
		       wj_err_t *err)
{
	char buf[256];

	*out = wuji__case__unpack(&a->pb, v->mv_size, v->mv_data);
	if (!*out)
		return wj_err_set(err, WJ_EINTERNAL,
			"case %s in the store does not decode: run node-ctl "
			"verify", printable(num, n, buf, sizeof(buf)));
	return 0;
}

static bool case_matches(const Wuji__Case *c, const wj_case_filter_t *f)
{
	if (!f)
		return true;
	if (f->status && c->status != f->status)
		return false;
	if (f->item_code && strcmp(str_or_empty(c->item_code), f->item_code))
		return false;
	return true;
}

static int visit_case(wj_txn_t *t, const MDB_val *k, const MDB_val *v,
		      void *ctx, wj_err_t *err)
{
	struct case_scan *cs = ctx;
	Wuji__Case *c;
	int rc;

	wj_arena_reset(&cs->scratch);
	if ((rc = decode_case(t, v, k->mv_data, k->mv_size, &cs->scratch, &c, err)))
		return rc;
	if (!case_matches(c, cs->f))
		return 0;
	return cs->cb(c, cs->ctx);
}

/* An index entry leads to the case; a case that is gone or no longer in
 * the indexed state is skipped (verify reports it), so one stale entry
 * does not stop a listing. */
static int visit_index(wj_txn_t *t, const MDB_val *k, const MDB_val *iv,
		       void *ctx, wj_err_t *err)
{
	struct case_scan *cs = ctx;
	/* A due key's date follows its kind byte. */
	const unsigned char *due = (const unsigned char *)k->mv_data + 1;
	MDB_val ck, v;
	Wuji__Case *c;
	int rc;

	if (k->mv_size <= cs->skip)
		return 0;
	if (cs->due && get_be32(due) > (uint32_t)cs->up_to) {
		cs->past = true;
		return 1;
	}
	ck.mv_size = k->mv_size - cs->skip;
	ck.mv_data = (unsigned char *)k->mv_data + cs->skip;
	rc = mdb_get(t->txn, t->s->dbi[DB_CASES], &ck, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return txn_fail(t, rc, err, "reading a case");
	wj_arena_reset(&cs->scratch);
	if ((rc = decode_case(t, &v, ck.mv_data, ck.mv_size, &cs->scratch, &c, err)))
		return rc;
	if (cs->due && (!has_due(c) ||
			c->promised_due != (int32_t)get_be32(due)))
		return 0;
	if (!case_matches(c, cs->f))
		return 0;
	return cs->cb(c, cs->ctx);
}

int wj_store_case_scan(wj_txn_t *t, const wj_case_filter_t *f, wj_case_visit_cb cb,
		       void *ctx, wj_err_t *err)
{
	static const wj_case_filter_t any;
	unsigned char from[KEY_MAX];
	struct case_scan cs = { .cb = cb, .ctx = ctx };
	const char *after;
	size_t plen = 0, an;
	int rc;

	if (!f)
		f = &any;
	cs.f = f;
	after = f->after && *f->after ? f->after : NULL;
	if (after && (rc = check_number(after, err)))
		return rc;
	an = after ? strlen(after) : 0;
	/* The prefix is the index's kind and the value looked for, so the
	 * scan stops where the entries of that value end. */
	if (f->status) {
		if (f->status < 0 || f->status > 255)
			return wj_err_set(err, WJ_EBADREQ,
				"status %d does not exist: give a known status",
				(int)f->status);
		from[0] = IDX_STATUS;
		from[1] = (unsigned char)f->status;
		plen = 2;
	} else if (f->item_code) {
		if ((rc = check_item_code(f->item_code, true, err)))
			return rc;
		plen = 1 + strlen(f->item_code) + 1;
		from[0] = IDX_ITEM;
		memcpy(from + 1, f->item_code, plen - 1);	/* and its NUL */
	}
	if (after)
		memcpy(from + plen, after, an);
	wj_arena_init(&cs.scratch, 16 << 10);
	if (plen == 0) {
		rc = scan(t, DB_CASES, NULL, 0, from, an, after != NULL, visit_case, &cs, err);
	} else {
		cs.skip = plen;
		rc = scan(t, DB_INDEX, from, plen, from, plen + an, after != NULL, visit_index,
			  &cs, err);
	}
	wj_arena_free(&cs.scratch);
	return rc;
}

int wj_store_due_scan(wj_txn_t *t, wj_date_t up_to, wj_case_visit_cb cb, void *ctx,
		      wj_err_t *err)
{
	return wj_store_due_scan_after(t, up_to, NULL, NULL, cb, ctx, err);
}

int wj_store_due_scan_after(wj_txn_t *t, wj_date_t up_to, const char *after, wj_arena_t *a,
			    wj_case_visit_cb cb, void *ctx, wj_err_t *err)
{
	static const unsigned char prefix[1] = { IDX_DUE };
	unsigned char from[KEY_MAX];
	size_t flen = 1;
	struct case_scan cs = {
		.cb = cb, .ctx = ctx, .skip = 5, .up_to = up_to, .due = true,
	};
	int rc;

	if (up_to <= 0)
		return 0;
	from[0] = IDX_DUE;
	const char *slash = after ? strchr(after, '/') : NULL;
	if (slash) {
		/* DUE/NUMBER, where a previous page ended. */
		char *end;
		long due = strtol(after, &end, 10);
		if (end != slash || slash - after != 8 || !wj_date_valid((wj_date_t)due) ||
		    check_number(slash + 1, NULL) != 0)
			return wj_err_set(err, WJ_EBADREQ,
				"'after' %s is neither a case number nor where a page "
				"ended (DUE/NUMBER, as the list said): list again from "
				"the start", after);
		flen = due_key(from, (int32_t)due, slash + 1);
	} else if (after && after[0]) {
		Wuji__Case *c;
		if ((rc = wj_store_case_get(t, after, a, &c, err)))
			return rc;
		if (!has_due(c))
			return wj_err_set(err, WJ_EBADREQ,
				"case %s is no longer open with a time limit (delivered "
				"or closed since the last page): list again from the "
				"start", after);
		flen = due_key(from, c->promised_due, c->number);
	}
	wj_arena_init(&cs.scratch, 16 << 10);
	rc = scan(t, DB_INDEX, prefix, 1, from, flen, flen > 1, visit_index, &cs, err);
	wj_arena_free(&cs.scratch);
	return cs.past ? 0 : rc;
}

int wj_store_count_status(wj_txn_t *t, Wuji__CaseStatus st, uint64_t *n)
{
	unsigned char p[2] = { IDX_STATUS, (unsigned char)st };
	MDB_val k = { 2, p }, v;
	MDB_cursor *cur;
	uint64_t count = 0;
	int rc;

	if (st <= 0 || st > 255) {
		*n = 0;
		return 0;
	}
	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_INDEX], &cur);
	if (rc)
		return lmdb_error(t->s, rc, NULL, "counting cases");
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 2 && memcmp(k.mv_data, p, 2) == 0) {
		count++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_error(t->s, rc, NULL, "counting cases");
	*n = count;
	return 0;
}

/* The first key that no key starting with the prefix reaches is the
 * prefix with its last byte below 0xff incremented (and what follows cut):
 * the last key before it is the largest with the prefix, if any is. */
int wj_store_last_case_with_prefix(wj_txn_t *t, const char *prefix,
				   char *buf, size_t size)
{
	unsigned char seek[NUMBER_MAX];
	size_t plen = prefix ? strlen(prefix) : 0, n;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (!buf || size == 0)
		return WJ_EINVAL;
	buf[0] = '\0';
	if (plen > NUMBER_MAX)
		return 0;	/* no number is that long */
	memcpy(seek, prefix, plen);
	for (n = plen; n > 0 && seek[n - 1] == 0xff; n--)
		;
	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CASES], &cur);
	if (rc)
		return lmdb_error(t->s, rc, NULL, "reading the cases");
	if (n == 0) {
		/* Empty, or all 0xff: nothing sorts after its keys. */
		rc = MDB_NOTFOUND;
	} else {
		seek[n - 1]++;
		k.mv_size = n;
		k.mv_data = seek;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size >= plen &&
	    memcmp(k.mv_data, prefix, plen) == 0) {
		if (k.mv_size >= size) {
			rc = WJ_EINVAL;
		} else {
			memcpy(buf, k.mv_data, k.mv_size);
			buf[k.mv_size] = '\0';
		}
	} else if (rc == 0 || rc == MDB_NOTFOUND) {
		rc = 0;
	} else {
		rc = lmdb_error(t->s, rc, NULL, "reading the cases");
	}
	mdb_cursor_close(cur);
	return rc;
}

/* -------------------------------------------------------------- events */

static void event_key(unsigned char *buf, uint64_t origin, uint64_t seq)
{
	put_be64(buf, origin);
	put_be64(buf + 8, seq);
}

/* kind number NUL: what every entry of a case's events begins with; its
 * length. */
static size_t case_event_prefix(unsigned char *buf, const char *number)
{
	size_t n = strlen(number);

	buf[0] = IDX_CASE_EVENT;
	memcpy(buf + 1, number, n);
	buf[1 + n] = '\0';
	return n + 2;
}

/* kind number NUL hlc origin seq: a case's events sort by (hlc, origin,
 * seq), and no number is a prefix of another's entries. */
static size_t case_event_key(unsigned char *buf, const char *number,
			     uint64_t hlc, uint64_t origin, uint64_t seq)
{
	size_t plen = case_event_prefix(buf, number);

	put_be64(buf + plen, hlc);
	event_key(buf + plen + 8, origin, seq);
	return plen + CASE_EV_TAIL;
}

static int event_put(wj_txn_t *t, const Wuji__Event *ev, const uint8_t *raw,
		     size_t raw_len, uint64_t from, uint64_t *local, wj_err_t *err);

int wj_store_event_put(wj_txn_t *t, const Wuji__Event *ev, uint64_t from,
		       uint64_t *local, wj_err_t *err)
{
	return event_put(t, ev, NULL, 0, from, local, err);
}

int wj_store_event_put_packed(wj_txn_t *t, const Wuji__Event *ev,
			      const uint8_t *packed, size_t len, uint64_t from,
			      uint64_t *local, wj_err_t *err)
{
	return event_put(t, ev, packed, len, from, local, err);
}

/* raw, when not NULL, is ev packed already (as it came from a peer): it is
 * stored as it is rather than packed again. */
static int event_put(wj_txn_t *t, const Wuji__Event *ev, const uint8_t *raw,
		     size_t raw_len, uint64_t from, uint64_t *local, wj_err_t *err)
{
	unsigned char kb[16], lb[8], vb[LOG_VAL_SIZE];
	unsigned char ckb[1 + NUMBER_MAX + 1 + CASE_EV_TAIL];
	MDB_val k = { 16, kb }, lk = { 8, lb }, lv = { LOG_VAL_SIZE, vb };
	MDB_val ck, empty = { 0, "" };
	const char *number = str_or_empty(ev->case_number);
	uint64_t log_seq;
	int rc;

	if (ev->origin == 0 || ev->seq == 0)
		return wj_err_set(err, WJ_EBADREQ,
			"event (%" PRIu64 ", %" PRIu64 ") has no valid id: "
			"origin and seq must not be 0", ev->origin, ev->seq);
	/* Checked before anything is written: the number is part of the
	 * case's event index key. */
	if (*number && (rc = check_number(number, err)))
		return rc;
	if ((rc = meta_get(t, META_LOG_SEQ, &log_seq, err)))
		return rc;
	if (log_seq == UINT64_MAX)
		return wj_err_set(err, WJ_EINTERNAL,
			"the change log of the store in %s has used every "
			"position: the store is damaged", t->s->dir);
	event_key(kb, ev->origin, ev->seq);
	if (raw) {
		MDB_val v = { raw_len, (void *)raw };

		rc = put_new(t, DB_EVENTS, &k, &v, 0);
	} else {
		rc = put_msg(t, DB_EVENTS, &k, &ev->base, MDB_NOOVERWRITE);
	}
	if (rc == MDB_KEYEXIST)
		return wj_err_set(err, WJ_EEXIST,
			"event (%012" PRIu64 ", %" PRIu64 ") is stored "
			"already: it was applied before", ev->origin, ev->seq);
	if (rc)
		return txn_fail(t, rc, err, "storing event (%012" PRIu64
				", %" PRIu64 ")", ev->origin, ev->seq);

	/* From here on the event is written: any failure must keep the
	 * transaction from committing it without its change-log entry. */
	put_be64(lb, log_seq + 1);
	event_key(vb, ev->origin, ev->seq);
	put_be64(vb + 16, from);
	rc = mdb_put(t->txn, t->s->dbi[DB_CHANGELOG], &lk, &lv, MDB_APPEND);
	if (rc == MDB_KEYEXIST)
		return txn_broken(t, err, WJ_EINTERNAL,
			"the change log of the store in %s is ahead of its "
			"log_seq: the store is damaged: run node-ctl verify",
			t->s->dir);
	if (rc)
		return txn_fail(t, rc, err, "appending event (%012" PRIu64
				", %" PRIu64 ") to the change log",
				ev->origin, ev->seq);
	if ((rc = meta_put(t, META_LOG_SEQ, log_seq + 1, err)))
		return rc;
	if (*number) {
		ck.mv_size = case_event_key(ckb, number, ev->hlc, ev->origin,
					    ev->seq);
		ck.mv_data = ckb;
		rc = mdb_put(t->txn, t->s->dbi[DB_INDEX], &ck, &empty, 0);
		if (rc)
			return txn_fail(t, rc, err, "indexing event (%012"
					PRIu64 ", %" PRIu64 ") under case %s",
					ev->origin, ev->seq, number);
	}
	if (local)
		*local = log_seq + 1;
	return 0;
}

int wj_store_changelog_append(wj_txn_t *t, uint64_t origin, uint64_t seq,
			      uint64_t from, uint64_t *local, wj_err_t *err)
{
	unsigned char lb[8], vb[LOG_VAL_SIZE];
	MDB_val lk = { 8, lb }, lv = { LOG_VAL_SIZE, vb };
	uint64_t log_seq;
	int rc;

	if (!wj_store_event_exists(t, origin, seq))
		return wj_err_set(err, WJ_ENOTFOUND, "event (%012" PRIu64 ", %"
				  PRIu64 ") is not stored: nothing to log", origin, seq);
	if ((rc = meta_get(t, META_LOG_SEQ, &log_seq, err)))
		return rc;
	if (log_seq == UINT64_MAX)
		return wj_err_set(err, WJ_EINTERNAL,
			"the change log of the store in %s has used every "
			"position: the store is damaged", t->s->dir);
	put_be64(lb, log_seq + 1);
	event_key(vb, origin, seq);
	put_be64(vb + 16, from);
	rc = mdb_put(t->txn, t->s->dbi[DB_CHANGELOG], &lk, &lv, MDB_APPEND);
	if (rc)
		return txn_fail(t, rc, err, "logging event (%012" PRIu64 ", %"
				PRIu64 ") again", origin, seq);
	if ((rc = meta_put(t, META_LOG_SEQ, log_seq + 1, err)))
		return rc;
	if (local)
		*local = log_seq + 1;
	return 0;
}

bool wj_store_event_exists(wj_txn_t *t, uint64_t origin, uint64_t seq)
{
	unsigned char kb[16];
	MDB_val k = { 16, kb }, v;

	event_key(kb, origin, seq);
	return mdb_get(t->txn, t->s->dbi[DB_EVENTS], &k, &v) == 0;
}

int wj_store_event_raw(wj_txn_t *t, uint64_t origin, uint64_t seq,
		       const uint8_t **data, size_t *len, wj_err_t *err)
{
	unsigned char kb[16];
	MDB_val k = { 16, kb }, v;
	int rc;

	event_key(kb, origin, seq);
	rc = mdb_get(t->txn, t->s->dbi[DB_EVENTS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return wj_err_set(err, WJ_ENOTFOUND, "event (%012" PRIu64 ", %"
				  PRIu64 ") is not stored here", origin, seq);
	if (rc)
		return txn_fail(t, rc, err, "reading event (%012" PRIu64 ", %"
				PRIu64 ")", origin, seq);
	*data = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int wj_store_event_get(wj_txn_t *t, uint64_t origin, uint64_t seq,
		       wj_arena_t *a, Wuji__Event **out, wj_err_t *err)
{
	const uint8_t *data;
	size_t len;
	int rc;

	if ((rc = wj_store_event_raw(t, origin, seq, &data, &len, err)))
		return rc;
	*out = wuji__event__unpack(&a->pb, len, data);
	if (!*out)
		return wj_err_set(err, WJ_EINTERNAL, "event (%012" PRIu64 ", %"
				  PRIu64 ") in the store does not decode: run "
				  "node-ctl verify", origin, seq);
	return 0;
}

struct log_scan {
	wj_changelog_cb cb;
	void *ctx;
};

static int visit_log(wj_txn_t *t, const MDB_val *k, const MDB_val *v,
		     void *ctx, wj_err_t *err)
{
	struct log_scan *ls = ctx;

	const unsigned char *p = v->mv_data;

	if (k->mv_size != 8 || v->mv_size != LOG_VAL_SIZE)
		return wj_err_set(err, WJ_EINTERNAL,
			"a change-log entry of the store in %s is damaged: run "
			"node-ctl verify", t->s->dir);
	return ls->cb(get_be64(k->mv_data), get_be64(p), get_be64(p + 8),
		      get_be64(p + 16), ls->ctx);
}

int wj_store_changelog_scan(wj_txn_t *t, uint64_t after, wj_changelog_cb cb,
			    void *ctx, wj_err_t *err)
{
	struct log_scan ls = { cb, ctx };
	unsigned char from[8];

	put_be64(from, after);
	return scan(t, DB_CHANGELOG, NULL, 0, from, 8, true, visit_log, &ls,
		    err);
}

struct case_ev_scan {
	const char *number;
	size_t plen;          /* kind, number and its NUL */
	wj_arena_t *a;
	wj_event_visit_cb cb;
	wj_event_id_cb id_cb;
	size_t decode_max, decoded;
	void *ctx;
};

/* An entry whose event is gone (or a malformed one) is skipped: verify
 * reports it, and one stale entry must not hide the rest of a case's
 * history. */
static int visit_case_event(wj_txn_t *t, const MDB_val *k, const MDB_val *iv,
			    void *ctx, wj_err_t *err)
{
	struct case_ev_scan *cs = ctx;
	unsigned char kb[16];
	MDB_val ek = { 16, kb }, v;
	uint64_t origin, seq;
	Wuji__Event *ev;
	int rc;

	if (k->mv_size != cs->plen + CASE_EV_TAIL)
		return 0;
	memcpy(kb, (unsigned char *)k->mv_data + cs->plen + 8, 16);
	origin = get_be64(kb);
	seq = get_be64(kb + 8);
	if (cs->decoded >= cs->decode_max)
		return cs->id_cb ? cs->id_cb(get_be64((unsigned char *)k->mv_data + cs->plen),
					     origin, seq, cs->ctx)
				 : 0;
	rc = mdb_get(t->txn, t->s->dbi[DB_EVENTS], &ek, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return txn_fail(t, rc, err, "reading event (%012" PRIu64 ", %"
				PRIu64 ") of case %s", origin, seq,
				cs->number);
	ev = wuji__event__unpack(&cs->a->pb, v.mv_size, v.mv_data);
	if (!ev)
		return wj_err_set(err, WJ_EINTERNAL,
			"event (%012" PRIu64 ", %" PRIu64 ") of case %s in the "
			"store does not decode: run node-ctl verify", origin,
			seq, cs->number);
	cs->decoded++;
	return cs->cb(ev, cs->ctx);
}

int wj_store_case_events(wj_txn_t *t, const char *number, wj_arena_t *a,
			 wj_event_visit_cb cb, void *ctx, wj_err_t *err)
{
	return wj_store_case_events_first(t, number, SIZE_MAX, a, cb, NULL, ctx, err);
}

int wj_store_case_events_first(wj_txn_t *t, const char *number, size_t decode_max,
			       wj_arena_t *a, wj_event_visit_cb cb, wj_event_id_cb id_cb,
			       void *ctx, wj_err_t *err)
{
	unsigned char prefix[1 + NUMBER_MAX + 1];
	struct case_ev_scan cs = {
		.number = number, .a = a, .cb = cb, .id_cb = id_cb, .ctx = ctx,
		.decode_max = decode_max,
	};
	int rc;

	if ((rc = check_number(number, err)))
		return rc;
	cs.plen = case_event_prefix(prefix, number);
	return scan(t, DB_INDEX, prefix, cs.plen, prefix, cs.plen, false,
		    visit_case_event, &cs, err);
}

int wj_store_case_event_count(wj_txn_t *t, const char *number, size_t limit,
			      size_t *n, wj_err_t *err)
{
	unsigned char prefix[1 + NUMBER_MAX + 1];
	MDB_cursor *cur;
	MDB_val k, v;
	size_t plen;
	int rc;

	*n = 0;
	if ((rc = check_number(number, err)))
		return rc;
	plen = case_event_prefix(prefix, number);
	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_INDEX], &cur);
	if (rc)
		return txn_fail(t, rc, err, "reading the events of case %s", number);
	k.mv_size = plen;
	k.mv_data = prefix;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && *n < limit && k.mv_size >= plen &&
	     memcmp(k.mv_data, prefix, plen) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		*n += k.mv_size == plen + CASE_EV_TAIL;  /* as the scan counts */
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return txn_fail(t, rc, err, "reading the events of case %s", number);
	return 0;
}

int wj_store_origin_next_seq(wj_txn_t *t, uint64_t origin, uint64_t after, uint64_t *seq)
{
	unsigned char kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_cursor *cur;
	int rc;

	*seq = 0;
	if (after == UINT64_MAX)
		return 0;
	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_EVENTS], &cur);
	if (rc)
		return lmdb_error(t->s, rc, NULL, "reading the events");
	event_key(kb, origin, after + 1);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == 16 && get_be64(k.mv_data) == origin)
		*seq = get_be64((unsigned char *)k.mv_data + 8);
	else if (rc == 0 || rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = lmdb_error(t->s, rc, NULL, "reading the events");
	mdb_cursor_close(cur);
	return rc;
}

/* O(log n): the last key before (origin + 1, 0) is this origin's highest
 * seq, if it is this origin's at all. */
int wj_store_origin_max_seq(wj_txn_t *t, uint64_t origin, uint64_t *seq)
{
	unsigned char kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_cursor *cur;
	int rc;

	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_EVENTS], &cur);
	if (rc)
		return lmdb_error(t->s, rc, NULL, "reading the events");
	if (origin == UINT64_MAX) {
		rc = MDB_NOTFOUND;
	} else {
		event_key(kb, origin + 1, 0);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 16 && get_be64(k.mv_data) == origin) {
		*seq = get_be64((unsigned char *)k.mv_data + 8);
	} else if (rc == 0 || rc == MDB_NOTFOUND) {
		*seq = 0;
		rc = 0;
	} else {
		rc = lmdb_error(t->s, rc, NULL, "reading the events");
	}
	mdb_cursor_close(cur);
	return rc;
}

int wj_store_changelog_bounds(wj_txn_t *t, uint64_t *first, uint64_t *last,
			      uint64_t *trimmed)
{
	uint64_t f = 0, l, tr;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = meta_get(t, META_LOG_SEQ, &l, NULL)) ||
	    (rc = meta_get_or_zero(t, META_LOG_TRIMMED, &tr, NULL)))
		return rc;
	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CHANGELOG], &cur);
	if (rc)
		return lmdb_error(t->s, rc, NULL, "reading the change log");
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	mdb_cursor_close(cur);
	if (rc == 0) {
		if (k.mv_size != 8)
			return WJ_EINTERNAL;
		f = get_be64(k.mv_data);
	} else if (rc != MDB_NOTFOUND) {
		return lmdb_error(t->s, rc, NULL, "reading the change log");
	}
	if (first)
		*first = f;
	if (last)
		*last = l;
	if (trimmed)
		*trimmed = tr;
	return 0;
}

/* Deletes from the front, at most max entries a call: the caller repeats
 * while *removed is max.  Positions are never reused, as log_seq is kept
 * in meta. */
int wj_store_changelog_trim(wj_txn_t *t, uint64_t upto, uint64_t max,
			    uint64_t *removed, wj_err_t *err)
{
	uint64_t trimmed, pos, high = 0, n = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = meta_get_or_zero(t, META_LOG_TRIMMED, &trimmed, err)))
		return rc;
	rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CHANGELOG], &cur);
	if (rc)
		return txn_fail(t, rc, err, "trimming the change log");
	while (n < max) {
		/* After a delete the first entry is the next one. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = txn_fail(t, rc, err, "trimming the change log");
			break;
		}
		if (k.mv_size != 8) {
			/* Entries deleted so far must not commit without
			 * log_trimmed. */
			rc = txn_broken(t, err, WJ_EINTERNAL,
				"the change log of the store in %s has a "
				"%zu-byte key: the store is damaged: run "
				"node-ctl verify", t->s->dir, k.mv_size);
			break;
		}
		pos = get_be64(k.mv_data);
		if (pos > upto)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc) {
			rc = txn_fail(t, rc, err, "trimming change-log entry %"
				      PRIu64, pos);
			break;
		}
		high = pos;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc)
		return rc;
	if (high > trimmed &&
	    (rc = meta_put(t, META_LOG_TRIMMED, high, err)))
		return rc;
	if (removed)
		*removed = n;
	return 0;
}

/* ------------------------------------------------------------- cursors */

static void cursor_key(unsigned char *buf, uint64_t peer, uint64_t slot)
{
	buf[0] = META_KIND_CURSOR;
	put_be64(buf + 1, peer);
	put_be64(buf + 9, slot);
}

int wj_store_cursor_get(wj_txn_t *t, uint64_t peer, uint64_t slot,
			uint64_t *value)
{
	unsigned char kb[META_CURSOR_KEY];
	MDB_val k = { sizeof(kb), kb }, v;
	int rc;

	cursor_key(kb, peer, slot);
	rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		*value = 0;
		return 0;
	}
	if (rc)
		return lmdb_error(t->s, rc, NULL, "reading a replication "
				  "cursor");
	if (v.mv_size != 8)
		return WJ_EINTERNAL;
	*value = get_be64(v.mv_data);
	return 0;
}

int wj_store_cursor_put(wj_txn_t *t, uint64_t peer, uint64_t slot,
			uint64_t value, wj_err_t *err)
{
	unsigned char kb[META_CURSOR_KEY], vb[8];
	MDB_val k = { sizeof(kb), kb }, v = { 8, vb };
	int rc;

	cursor_key(kb, peer, slot);
	put_be64(vb, value);
	rc = mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0);
	if (rc)
		return txn_fail(t, rc, err, "storing replication cursor %"
				PRIu64 " of peer %012" PRIu64, slot, peer);
	return 0;
}

/* ------------------------------------------------- catalog and calendar */

int wj_store_catalog_put(wj_txn_t *t, const Wuji__CatalogItem *item,
			 wj_err_t *err)
{
	MDB_val k;
	int rc;

	if ((rc = check_item_code(item->code, false, err)))
		return rc;
	k.mv_size = strlen(item->code);
	k.mv_data = item->code;
	rc = put_msg(t, DB_CATALOG, &k, &item->base, 0);
	if (rc)
		return txn_fail(t, rc, err, "storing catalog item %s",
				item->code);
	return 0;
}

int wj_store_catalog_get(wj_txn_t *t, const char *code, wj_arena_t *a,
			 Wuji__CatalogItem **out, wj_err_t *err)
{
	MDB_val k;
	int rc;

	if ((rc = check_item_code(code, false, err)))
		return rc;
	k.mv_size = strlen(code);
	k.mv_data = (void *)code;
	rc = get_msg(t, DB_CATALOG, &k, &wuji__catalog_item__descriptor, a,
		     (ProtobufCMessage **)out, err);
	if (rc == WJ_ENOTFOUND)
		return wj_err_set(err, WJ_ENOTFOUND,
			"item %s is not in the catalog: check the code "
			"(node-ctl catalog list), or load a catalog that has "
			"it", code);
	return rc;
}

struct msg_scan {
	const ProtobufCMessageDescriptor *desc;
	const char *what;
	wj_arena_t *a;
	int (*cb)(void *m, void *ctx);
	void *ctx;
};

static int visit_msg(wj_txn_t *t, const MDB_val *k, const MDB_val *v,
		     void *ctx, wj_err_t *err)
{
	struct msg_scan *ms = ctx;
	ProtobufCMessage *m;
	char buf[128];

	m = protobuf_c_message_unpack(ms->desc, &ms->a->pb, v->mv_size,
				      v->mv_data);
	if (!m)
		return wj_err_set(err, WJ_EINTERNAL,
			"%s %s in the store does not decode: run node-ctl "
			"verify", ms->what,
			printable(k->mv_data, k->mv_size, buf, sizeof(buf)));
	return ms->cb(m, ms->ctx);
}

struct item_cb {
	wj_item_visit_cb cb;
	void *ctx;
};

static int call_item(void *m, void *ctx)
{
	struct item_cb *ic = ctx;

	return ic->cb(m, ic->ctx);
}

int wj_store_catalog_scan(wj_txn_t *t, wj_arena_t *a, wj_item_visit_cb cb,
			  void *ctx, wj_err_t *err)
{
	struct item_cb ic = { cb, ctx };
	struct msg_scan ms = {
		&wuji__catalog_item__descriptor, "catalog item", a, call_item,
		&ic,
	};

	return scan(t, DB_CATALOG, NULL, 0, NULL, 0, false, visit_msg, &ms,
		    err);
}

int wj_store_calendar_put(wj_txn_t *t, const Wuji__CalendarYear *y,
			  wj_err_t *err)
{
	unsigned char kb[4];
	MDB_val k = { 4, kb };
	int rc;

	if (y->year <= 0)
		return wj_err_set(err, WJ_EINVAL,
			"calendar year %d is not a year: fix the calendar file",
			(int)y->year);
	put_be32(kb, (uint32_t)y->year);
	rc = put_msg(t, DB_CALENDAR, &k, &y->base, 0);
	if (rc)
		return txn_fail(t, rc, err, "storing the calendar of %d",
				(int)y->year);
	return 0;
}

struct year_cb {
	wj_year_visit_cb cb;
	void *ctx;
};

static int call_year(void *m, void *ctx)
{
	struct year_cb *yc = ctx;

	return yc->cb(m, yc->ctx);
}

int wj_store_calendar_scan(wj_txn_t *t, wj_arena_t *a, wj_year_visit_cb cb,
			   void *ctx, wj_err_t *err)
{
	struct year_cb yc = { cb, ctx };
	struct msg_scan ms = {
		&wuji__calendar_year__descriptor, "calendar year", a,
		call_year, &yc,
	};

	return scan(t, DB_CALENDAR, NULL, 0, NULL, 0, false, visit_msg, &ms,
		    err);
}

int wj_store_counts(wj_txn_t *t, wj_store_counts_t *out)
{
	static const int dbs[] = {
		DB_CASES, DB_EVENTS, DB_CHANGELOG, DB_CATALOG, DB_CALENDAR,
	};
	uint64_t n[5];
	MDB_stat st;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_stat(t->txn, t->s->dbi[dbs[i]], &st);
		if (rc)
			return lmdb_error(t->s, rc, NULL, "counting %s",
					  db_names[dbs[i]]);
		n[i] = st.ms_entries;
	}
	out->cases = n[0];
	out->events = n[1];
	out->changelog = n[2];
	out->catalog = n[3];
	out->calendar_years = n[4];
	return 0;
}

/* -------------------------------------------------------------- verify */

struct verify {
	wj_txn_t *t;
	wj_arena_t scratch;
	wj_problem_cb cb;
	void *ctx;
	uint64_t problems;
};

static void problem(struct verify *vf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct verify *vf, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vf->problems++;
	if (vf->cb)
		vf->cb(buf, vf->ctx);
}

/* Walks every entry of db with a plain cursor; fn must not write. */
typedef int (*walk_fn)(struct verify *vf, const MDB_val *k, const MDB_val *v,
		       wj_err_t *err);

static int walk(struct verify *vf, int db, walk_fn fn, wj_err_t *err)
{
	wj_txn_t *t = vf->t;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
	if (rc)
		return txn_fail(t, rc, err, "verifying the %s database",
				db_names[db]);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		wj_arena_reset(&vf->scratch);
		if ((rc = fn(vf, &k, &v, err))) {
			mdb_cursor_close(cur);
			return rc;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return txn_fail(t, rc, err, "verifying the %s database",
				db_names[db]);
	return 0;
}

/* 1 when the entry exists, 0 when not, or a negative WJ_E* code. */
static int has_entry(struct verify *vf, int db, const void *key, size_t n,
		     wj_err_t *err)
{
	MDB_val k = { n, (void *)key }, v;
	int rc;

	rc = mdb_get(vf->t->txn, vf->t->s->dbi[db], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return txn_fail(vf->t, rc, err, "verifying the %s database",
				db_names[db]);
	return 1;
}

static int check_case(struct verify *vf, const MDB_val *k, const MDB_val *v,
		      wj_err_t *err)
{
	unsigned char key[KEY_MAX];
	char num[256];
	Wuji__Case *c;
	size_t n;
	int rc;

	printable(k->mv_data, k->mv_size, num, sizeof(num));
	c = wuji__case__unpack(&vf->scratch.pb, v->mv_size, v->mv_data);
	if (!c) {
		problem(vf, "case %s does not decode", num);
		return 0;
	}
	if (strlen(c->number) != k->mv_size ||
	    memcmp(c->number, k->mv_data, k->mv_size) != 0) {
		problem(vf, "case stored under %s says its number is %.60s",
			num, c->number);
		return 0;
	}
	if (check_number(c->number, NULL) ||
	    check_item_code(str_or_empty(c->item_code), true, NULL)) {
		problem(vf, "case %s has a number or item code too long to "
			"index", num);
		return 0;
	}
	if (c->warning != WUJI__WARNING__WARNING_NONE || c->days_left != 0)
		problem(vf, "case %s was stored with its read-time warning "
			"fields set", num);
	if (c->status <= 0 || c->status > 255) {
		problem(vf, "case %s has no valid status (%d)", num,
			(int)c->status);
		return 0;
	}
	n = status_key(key, c->status, c->number);
	if ((rc = has_entry(vf, DB_INDEX, key, n, err)) < 0)
		return rc;
	if (!rc)
		problem(vf, "case %s (%s) is missing from the status index",
			num, wj_status_name(c->status));
	n = item_key(key, str_or_empty(c->item_code), c->number);
	if ((rc = has_entry(vf, DB_INDEX, key, n, err)) < 0)
		return rc;
	if (!rc)
		problem(vf, "case %s (item %.60s) is missing from the item "
			"index", num, str_or_empty(c->item_code));
	if (has_due(c)) {
		n = due_key(key, c->promised_due, c->number);
		if ((rc = has_entry(vf, DB_INDEX, key, n, err)) < 0)
			return rc;
		if (!rc)
			problem(vf, "accepted case %s (due %d) is missing from "
				"the due index", num, (int)c->promised_due);
	}
	return 0;
}

/* Fetches and decodes the case an index entry names; NULL (with the
 * problem reported) when there is none. */
static int index_case(struct verify *vf, const char *index,
		      const void *num, size_t n, Wuji__Case **out,
		      wj_err_t *err)
{
	MDB_val k = { n, (void *)num }, v;
	char buf[256];
	int rc;

	*out = NULL;
	printable(num, n, buf, sizeof(buf));
	rc = mdb_get(vf->t->txn, vf->t->s->dbi[DB_CASES], &k, &v);
	if (rc == MDB_NOTFOUND) {
		problem(vf, "the %s index names case %s, which is not stored",
			index, buf);
		return 0;
	}
	if (rc)
		return txn_fail(vf->t, rc, err, "verifying the %s index",
				index);
	/* An undecodable case was reported by the walk over the cases. */
	*out = wuji__case__unpack(&vf->scratch.pb, v.mv_size, v.mv_data);
	return 0;
}

static int check_status_entry(struct verify *vf, const MDB_val *k,
			      const MDB_val *v, wj_err_t *err)
{
	const unsigned char *p = k->mv_data;
	Wuji__Case *c;
	char buf[256];
	int rc;

	if (k->mv_size < 2) {
		problem(vf, "the status index has an entry without a case "
			"number");
		return 0;
	}
	if ((rc = index_case(vf, "status", p + 1, k->mv_size - 1, &c, err)))
		return rc;
	if (c && c->status != p[0])
		problem(vf, "the status index lists case %s as %s, but it is "
			"%s", printable(p + 1, k->mv_size - 1, buf,
					sizeof(buf)),
			wj_status_name(p[0]), wj_status_name(c->status));
	return 0;
}

static int check_item_entry(struct verify *vf, const MDB_val *k,
			    const MDB_val *v, wj_err_t *err)
{
	const unsigned char *p = k->mv_data, *nul;
	char buf[256], code[256];
	Wuji__Case *c;
	size_t cl;
	int rc;

	nul = memchr(p, '\0', k->mv_size);
	if (!nul || nul + 1 == p + k->mv_size) {
		problem(vf, "the item index has a malformed entry %s",
			printable(p, k->mv_size, buf, sizeof(buf)));
		return 0;
	}
	cl = (size_t)(nul - p);
	if ((rc = index_case(vf, "item", nul + 1, k->mv_size - cl - 1, &c,
			     err)))
		return rc;
	if (c && (strlen(str_or_empty(c->item_code)) != cl ||
		  memcmp(str_or_empty(c->item_code), p, cl) != 0))
		problem(vf, "the item index lists case %s under item %s, but "
			"its item is %.60s",
			printable(nul + 1, k->mv_size - cl - 1, buf,
				  sizeof(buf)),
			printable(p, cl, code, sizeof(code)),
			str_or_empty(c->item_code));
	return 0;
}

static int check_due_entry(struct verify *vf, const MDB_val *k,
			   const MDB_val *v, wj_err_t *err)
{
	const unsigned char *p = k->mv_data;
	Wuji__Case *c;
	char buf[256];
	int32_t due;
	int rc;

	if (k->mv_size < 5) {
		problem(vf, "the due index has an entry without a case "
			"number");
		return 0;
	}
	due = (int32_t)get_be32(p);
	printable(p + 4, k->mv_size - 4, buf, sizeof(buf));
	if ((rc = index_case(vf, "due", p + 4, k->mv_size - 4, &c, err)))
		return rc;
	if (!c)
		return 0;
	if (c->status != WUJI__CASE_STATUS__ACCEPTED)
		problem(vf, "the due index lists case %s, which is %s, not "
			"accepted", buf, wj_status_name(c->status));
	else if (c->promised_due != due)
		problem(vf, "the due index lists case %s as due %d, but it is "
			"due %d", buf, (int)due, (int)c->promised_due);
	return 0;
}

struct verify_events {
	struct verify vf;
	uint64_t last_seq, log_seq, log_trimmed;
	uint64_t max_local;   /* highest seq of this node's own events */
};

/* A case event is listed under its case, at its hlc. */
static int check_event_indexed(struct verify *vf, const Wuji__Event *ev,
			       uint64_t origin, uint64_t seq, wj_err_t *err)
{
	unsigned char key[1 + NUMBER_MAX + 1 + CASE_EV_TAIL];
	size_t n;
	int rc;

	if (check_number(ev->case_number, NULL)) {
		problem(vf, "event (%012" PRIu64 ", %" PRIu64 ") has a case "
			"number too long to index (%.60s...)", origin, seq,
			ev->case_number);
		return 0;
	}
	n = case_event_key(key, ev->case_number, ev->hlc, origin, seq);
	if ((rc = has_entry(vf, DB_INDEX, key, n, err)) < 0)
		return rc;
	if (!rc)
		problem(vf, "event (%012" PRIu64 ", %" PRIu64 ") of case %s is "
			"missing from the case_events index", origin, seq,
			ev->case_number);
	return 0;
}

static int check_event(struct verify *vf, const MDB_val *k, const MDB_val *v,
		       wj_err_t *err)
{
	struct verify_events *ve = (struct verify_events *)vf;
	uint64_t origin, seq;
	Wuji__Event *ev;

	if (k->mv_size != 16) {
		problem(vf, "the events database has a %zu-byte key (16 "
			"expected)", k->mv_size);
		return 0;
	}
	origin = get_be64(k->mv_data);
	seq = get_be64((unsigned char *)k->mv_data + 8);
	ev = wuji__event__unpack(&vf->scratch.pb, v->mv_size, v->mv_data);
	if (!ev) {
		problem(vf, "event (%012" PRIu64 ", %" PRIu64 ") does not "
			"decode", origin, seq);
		return 0;
	}
	if (ev->origin != origin || ev->seq != seq)
		problem(vf, "event stored as (%012" PRIu64 ", %" PRIu64 ") "
			"says it is (%012" PRIu64 ", %" PRIu64 ")", origin,
			seq, ev->origin, ev->seq);
	if (origin == vf->t->s->node && seq > ve->max_local)
		ve->max_local = seq;
	if (ev->case_number && *ev->case_number)
		return check_event_indexed(vf, ev, origin, seq, err);
	return 0;
}

static int check_log_entry(struct verify *vf, const MDB_val *k,
			   const MDB_val *v, wj_err_t *err)
{
	struct verify_events *ve = (struct verify_events *)vf;
	uint64_t local;
	int rc;

	if (k->mv_size != 8 || v->mv_size != LOG_VAL_SIZE) {
		problem(vf, "the change log has a malformed entry (%zu-byte "
			"key, %zu-byte value; 8 and %d expected)", k->mv_size,
			v->mv_size, LOG_VAL_SIZE);
		return 0;
	}
	local = get_be64(k->mv_data);
	if (local > ve->log_seq)
		problem(vf, "change-log entry %" PRIu64 " is beyond log_seq %"
			PRIu64 ": later events would collide with it", local,
			ve->log_seq);
	if (local <= ve->log_trimmed)
		problem(vf, "change-log entry %" PRIu64 " is at or below the "
			"trimmed position %" PRIu64, local, ve->log_trimmed);
	if ((rc = has_entry(vf, DB_EVENTS, v->mv_data, 16, err)) < 0)
		return rc;
	if (!rc)
		problem(vf, "change-log entry %" PRIu64 " names event (%012"
			PRIu64 ", %" PRIu64 "), which is not stored", local,
			get_be64(v->mv_data),
			get_be64((unsigned char *)v->mv_data + 8));
	return 0;
}

static int check_case_event_entry(struct verify *vf, const MDB_val *k,
				  const MDB_val *iv, wj_err_t *err)
{
	const unsigned char *p = k->mv_data, *nul, *tail;
	char num[256], buf[256];
	uint64_t hlc, origin, seq;
	Wuji__Event *ev;
	MDB_val v;
	size_t nl;
	int rc;

	nul = memchr(p, '\0', k->mv_size);
	if (!nul || nul == p ||
	    k->mv_size - (size_t)(nul - p) - 1 != CASE_EV_TAIL) {
		problem(vf, "the case_events index has a malformed entry %s",
			printable(p, k->mv_size, buf, sizeof(buf)));
		return 0;
	}
	nl = (size_t)(nul - p);
	printable(p, nl, num, sizeof(num));
	tail = nul + 1;
	hlc = get_be64(tail);
	origin = get_be64(tail + 8);
	seq = get_be64(tail + 16);
	{
		MDB_val ek = { 16, (void *)(tail + 8) };

		rc = mdb_get(vf->t->txn, vf->t->s->dbi[DB_EVENTS], &ek, &v);
	}
	if (rc == MDB_NOTFOUND) {
		problem(vf, "the case_events index lists event (%012" PRIu64
			", %" PRIu64 ") under case %s, but that event is not "
			"stored", origin, seq, num);
		return 0;
	}
	if (rc)
		return txn_fail(vf->t, rc, err, "verifying the case_events "
				"index");
	/* An undecodable event was reported by the walk over the events. */
	ev = wuji__event__unpack(&vf->scratch.pb, v.mv_size, v.mv_data);
	if (!ev)
		return 0;
	if (strlen(str_or_empty(ev->case_number)) != nl ||
	    memcmp(str_or_empty(ev->case_number), p, nl) != 0)
		problem(vf, "the case_events index lists event (%012" PRIu64
			", %" PRIu64 ") under case %s, but it is an event of "
			"case \"%.60s\"", origin, seq, num,
			str_or_empty(ev->case_number));
	else if (ev->hlc != hlc)
		problem(vf, "the case_events index lists event (%012" PRIu64
			", %" PRIu64 ") of case %s at hlc %" PRIu64 ", but its "
			"hlc is %" PRIu64, origin, seq, num, hlc, ev->hlc);
	return 0;
}

/* The index database is walked once; each entry goes to the check of
 * its kind with the kind byte taken off, so those checks read the key
 * of one index as it is documented in enum idx_kind. */
static int check_index_entry(struct verify *vf, const MDB_val *k,
			     const MDB_val *v, wj_err_t *err)
{
	MDB_val rest;
	char buf[256];

	if (k->mv_size == 0) {
		problem(vf, "the index database has an empty key");
		return 0;
	}
	rest.mv_size = k->mv_size - 1;
	rest.mv_data = (unsigned char *)k->mv_data + 1;
	switch (*(const unsigned char *)k->mv_data) {
	case IDX_STATUS:
		return check_status_entry(vf, &rest, v, err);
	case IDX_ITEM:
		return check_item_entry(vf, &rest, v, err);
	case IDX_DUE:
		return check_due_entry(vf, &rest, v, err);
	case IDX_CASE_EVENT:
		return check_case_event_entry(vf, &rest, v, err);
	default:
		problem(vf, "the index database has an entry of unknown kind "
			"%u: %s", *(const unsigned char *)k->mv_data,
			printable(k->mv_data, k->mv_size, buf, sizeof(buf)));
		return 0;
	}
}

/* Every meta key is one of the names, a day's serial or a replication
 * cursor, each with a value of its size: anything else was written by
 * something that is not this wuji. */
static int check_meta_entry(struct verify *vf, const MDB_val *k,
			    const MDB_val *v, wj_err_t *err)
{
	static const char *const names[] = {
		META_SCHEMA, META_NODE, META_LAST_SEQ, META_EPOCH,
		META_LOG_SEQ, META_HLC, META_LOG_TRIMMED,
	};
	const unsigned char *p = k->mv_data;
	char buf[256];
	size_t i;

	printable(p, k->mv_size, buf, sizeof(buf));
	if (k->mv_size == META_SERIAL_KEY && p[0] == META_KIND_SERIAL) {
		if (v->mv_size != 4)
			problem(vf, "the case serial of day %u has a %zu-byte "
				"value (4 expected)", get_be32(p + 1),
				v->mv_size);
		return 0;
	}
	if (k->mv_size == META_CURSOR_KEY && p[0] == META_KIND_CURSOR) {
		if (v->mv_size != 8)
			problem(vf, "replication cursor %" PRIu64 " of peer "
				"%012" PRIu64 " has a %zu-byte value (8 "
				"expected)", get_be64(p + 9), get_be64(p + 1),
				v->mv_size);
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) != k->mv_size ||
		    memcmp(names[i], p, k->mv_size) != 0)
			continue;
		if (v->mv_size != 8)
			problem(vf, "meta value %s has %zu bytes (8 expected)",
				buf, v->mv_size);
		return 0;
	}
	problem(vf, "the meta database has an unknown key %s", buf);
	return 0;
}

static int check_item(struct verify *vf, const MDB_val *k, const MDB_val *v,
		      wj_err_t *err)
{
	Wuji__CatalogItem *it;
	char buf[256];

	printable(k->mv_data, k->mv_size, buf, sizeof(buf));
	it = wuji__catalog_item__unpack(&vf->scratch.pb, v->mv_size,
					v->mv_data);
	if (!it)
		problem(vf, "catalog item %s does not decode", buf);
	else if (strlen(it->code) != k->mv_size ||
		 memcmp(it->code, k->mv_data, k->mv_size) != 0)
		problem(vf, "catalog item stored under %s says its code is "
			"%.60s", buf, it->code);
	return 0;
}

static int check_year(struct verify *vf, const MDB_val *k, const MDB_val *v,
		      wj_err_t *err)
{
	Wuji__CalendarYear *y;

	if (k->mv_size != 4) {
		problem(vf, "the calendar has a %zu-byte key (4 expected)",
			k->mv_size);
		return 0;
	}
	y = wuji__calendar_year__unpack(&vf->scratch.pb, v->mv_size,
					v->mv_data);
	if (!y)
		problem(vf, "the calendar of %u does not decode",
			get_be32(k->mv_data));
	else if ((uint32_t)y->year != get_be32(k->mv_data))
		problem(vf, "the calendar stored as %u says it is %d",
			get_be32(k->mv_data), (int)y->year);
	return 0;
}

static int check_meta(struct verify_events *ve, wj_err_t *err)
{
	struct verify *vf = &ve->vf;
	wj_err_t e = { 0 };
	uint64_t schema, node, epoch;

	if (meta_get(vf->t, META_SCHEMA, &schema, &e) ||
	    meta_get(vf->t, META_NODE, &node, &e) ||
	    meta_get(vf->t, META_LAST_SEQ, &ve->last_seq, &e) ||
	    meta_get(vf->t, META_LOG_SEQ, &ve->log_seq, &e) ||
	    meta_get(vf->t, META_EPOCH, &epoch, &e) ||
	    meta_get_or_zero(vf->t, META_LOG_TRIMMED, &ve->log_trimmed, &e)) {
		problem(vf, "%s", e.msg);
		ve->log_seq = UINT64_MAX;
		ve->last_seq = UINT64_MAX;
		ve->log_trimmed = 0;
		return 0;
	}
	if (ve->log_trimmed > ve->log_seq)
		problem(vf, "the change log is trimmed up to %" PRIu64 ", beyond "
			"log_seq %" PRIu64, ve->log_trimmed, ve->log_seq);
	if (schema != WJ_SCHEMA_VERSION)
		problem(vf, "the store says schema %" PRIu64 ", not %d",
			schema, WJ_SCHEMA_VERSION);
	if (node != vf->t->s->node)
		problem(vf, "the store says node %012" PRIu64 ", not %012"
			PRIu64, node, vf->t->s->node);
	if (epoch == 0)
		problem(vf, "the store has no epoch");
	return 0;
}

int wj_store_verify(wj_txn_t *t, wj_arena_t *a, wj_problem_cb cb, void *ctx,
		    wj_err_t *err)
{
	struct verify_events ve = { .vf = { .t = t, .cb = cb, .ctx = ctx } };
	struct verify *vf = &ve.vf;
	wj_store_counts_t n;
	int rc;

	/* Records decode into a scratch arena reset after each one, so a
	 * large store does not grow the caller's arena by its whole size;
	 * `a` only lends its block size. */
	wj_arena_init(&vf->scratch, a ? a->block_size : 0);
	if ((rc = check_meta(&ve, err)) ||
	    (rc = walk(vf, DB_META, check_meta_entry, err)) ||
	    (rc = walk(vf, DB_CASES, check_case, err)) ||
	    (rc = walk(vf, DB_EVENTS, check_event, err)) ||
	    (rc = walk(vf, DB_CHANGELOG, check_log_entry, err)) ||
	    (rc = walk(vf, DB_INDEX, check_index_entry, err)) ||
	    (rc = walk(vf, DB_CATALOG, check_item, err)) ||
	    (rc = walk(vf, DB_CALENDAR, check_year, err)))
		goto out;
	if (ve.max_local > ve.last_seq)
		problem(vf, "this node's events go up to seq %" PRIu64 " but "
			"last_seq is %" PRIu64 ": new events would reuse ids",
			ve.max_local, ve.last_seq);
	if ((rc = wj_store_counts(t, &n))) {
		wj_err_set(err, rc, "counting the records of the store in %s "
			   "failed: retry", t->s->dir);
		goto out;
	}
	/* Positions are consecutive and trimming removes a prefix, so the
	 * log holds log_trimmed + 1 .. log_seq: at least one entry per event
	 * (an event is logged again when the case it waited for arrives, see
	 * wj_store_changelog_append). */
	if (n.events > n.changelog + ve.log_trimmed)
		problem(vf, "the store holds %" PRIu64 " events but its change "
			"log %" PRIu64 " entries (and %" PRIu64 " trimmed): "
			"each event must be logged", n.events,
			n.changelog, ve.log_trimmed);
out:
	wj_arena_free(&vf->scratch);
	return rc;
}

uint64_t wj_store_last_commit(wj_store_t *s)
{
	MDB_envinfo info;

	if (!s || !s->env || mdb_env_info(s->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}
