// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store-crash: the writer and the checker of 100-store-crash.sh.
 *
 *   store-crash write SEED STORE ACKLOG
 *   store-crash verify SEED STORE ACKLOG [SEED ACKLOG]...
 *
 * Both sides run the same deterministic operation stream for a seed: puts
 * of records of 1 B..256 KiB (key and payload derived from the seed and
 * the operation's index), deletes (random ones, and the oldest records
 * whenever the round holds more than LIVE_BUDGET bytes, so that whole
 * segments die and get reused), checkpoints, and a store_sync() every 1..8
 * operations (1..48 one time in eight, so that whole write-buffer windows
 * are in flight, unsynced, when the kill comes).  The writer appends
 * "N\n" to ACKLOG (and fsyncs it) after every sync that returned 0:
 * operations 0..N-1 are durable.  It never stops; the script kills it with
 * SIGKILL.
 *
 * The checker replays the stream to the last acknowledged N and checks:
 * every record put and not deleted before N is readable and byte-identical;
 * every record deleted before N is gone; operations after N (up to the
 * next sync point, the only ones the writer can have started) may or may
 * not have happened, but a record that exists is intact; records of later
 * operations do not exist; and the store holds no other record of these
 * seeds.  Then it closes the store and runs store_fsck() with data
 * verification.
 *
 * A writer also deletes every record of seeds older than SEED - 1 when it
 * starts, so the store stays small however many rounds run; the checker is
 * given the current and the previous round.
 *
 * Exit status: 0 fine, 1 store could not be opened, 2 records lost or
 * wrong, 3 fsck found damage, 4 usage or environment error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/log.h"
#include "strata/store.h"

#define MAX_LEN (256u << 10)
#define LIVE_BUDGET (6u << 20) /* bytes of live records per round */
#define MAX_BATCH 8	       /* operations between two syncs, usually */
#define MAX_BATCH_LONG 48      /* 1 in 8: long enough for window writes to be in flight */
#define LOOKAHEAD 64	       /* operations past the window that must not exist */

enum { EX_OK = 0, EX_OPEN = 1, EX_DATA = 2, EX_FSCK = 3, EX_USAGE = 4 };

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Key of the record put by operation id of seed: seed, id, then noise. */
static void make_key(uint64_t seed, uint64_t id, struct store_key *k)
{
	uint64_t x = seed * 0x100000001b3ull ^ id;

	put64(k->b, seed);
	put64(k->b + 8, id);
	put64(k->b + 16, splitmix(&x));
	put64(k->b + 24, splitmix(&x));
}

static void fill(uint64_t seed, uint64_t id, uint8_t *buf, uint32_t len)
{
	uint64_t x = seed ^ (id << 20) ^ 0x5bd1e995ull, v = 0;

	for (uint32_t i = 0; i < len; i++) {
		if (!(i & 7))
			v = splitmix(&x);
		buf[i] = (uint8_t)(v >> (8 * (i & 7)));
	}
}

/* ---- the operation stream ---- */

struct live {
	uint64_t id;
	uint32_t len;
};

struct gen {
	uint64_t seed, rng;
	uint64_t op;	    /* operations generated so far */
	uint64_t next_sync; /* op count at which the next sync happens */
	struct live *live;  /* records of this stream, oldest first */
	size_t nlive, cap;
	uint64_t live_bytes;
};

enum op_kind { OP_PUT, OP_DEL, OP_CP };

struct op {
	enum op_kind kind;
	uint64_t id; /* key of the put or of the deleted record */
	uint32_t len;
};

static uint64_t batch_len(struct gen *g)
{
	uint64_t r = splitmix(&g->rng);

	return 1 + (r % 8 ? (r >> 8) % MAX_BATCH : (r >> 8) % MAX_BATCH_LONG);
}

static void gen_init(struct gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->seed = seed;
	g->rng = seed * 0x2545f4914f6cdd1dull + 1;
	g->next_sync = batch_len(g);
}

static void live_remove(struct gen *g, size_t k)
{
	g->live_bytes -= g->live[k].len;
	memmove(&g->live[k], &g->live[k + 1], (g->nlive - k - 1) * sizeof(*g->live));
	g->nlive--;
}

/* The next operation; returns true when a sync follows it. */
static bool gen_next(struct gen *g, struct op *o)
{
	uint64_t r = splitmix(&g->rng);
	uint64_t pct = r % 100;

	if (g->live_bytes > LIVE_BUDGET) {
		o->kind = OP_DEL;
		o->id = g->live[0].id;
		live_remove(g, 0);
	} else if (pct < 8 && g->nlive) {
		size_t k = (size_t)((r >> 8) % g->nlive);

		o->kind = OP_DEL;
		o->id = g->live[k].id;
		live_remove(g, k);
	} else if (pct < 10) {
		o->kind = OP_CP;
	} else {
		/* Half small records (many per block), half up to 256 KiB. */
		uint64_t s = splitmix(&g->rng);

		o->kind = OP_PUT;
		o->id = g->op;
		o->len = (uint32_t)(1 + (s & 1 ? (s >> 1) % 4096 : (s >> 1) % MAX_LEN));
		if (g->nlive == g->cap) {
			g->cap = g->cap ? 2 * g->cap : 256;
			g->live = realloc(g->live, g->cap * sizeof(*g->live));
			if (!g->live) {
				fprintf(stderr, "store-crash: out of memory\n");
				exit(EX_USAGE);
			}
		}
		g->live[g->nlive].id = o->id;
		g->live[g->nlive].len = o->len;
		g->nlive++;
		g->live_bytes += o->len;
	}
	g->op++;
	if (g->op != g->next_sync)
		return false;
	g->next_sync = g->op + batch_len(g);
	return true;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

/* ---- writer ---- */

struct old_keys {
	uint64_t seed;
	struct store_key *k;
	size_t n, cap;
};

static int collect_old(void *arg, const struct store_key *key, const struct store_rec_info *info)
{
	struct old_keys *o = arg;

	(void)info;
	if (get64(key->b) + 1 >= o->seed)
		return 0;
	if (o->n == o->cap) {
		struct store_key *k;

		o->cap = o->cap ? 2 * o->cap : 256;
		k = realloc(o->k, o->cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		o->k = k;
	}
	o->k[o->n++] = *key;
	return 0;
}

static int do_write(uint64_t seed, const char *path, const char *acklog)
{
	struct store_open_opts oo = { .path = path, .direct = -1 };
	struct old_keys old = { .seed = seed };
	struct store *s;
	struct gen g;
	uint8_t *buf;
	int fd, r;

	buf = malloc(MAX_LEN);
	fd = open(acklog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (!buf || fd < 0) {
		fprintf(stderr, "store-crash: %s: %s\n", acklog, strerror(errno));
		return EX_USAGE;
	}
	r = store_open(&oo, &s);
	if (r) {
		fprintf(stderr, "store-crash: write: cannot open %s: %s\n", path, strerror(-r));
		return EX_OPEN;
	}
	/* Forget rounds the checker no longer looks at. */
	r = store_iterate(s, collect_old, &old);
	for (size_t i = 0; !r && i < old.n; i++)
		r = store_delete(s, &old.k[i]);
	if (!r)
		r = store_sync(s);
	if (r) {
		fprintf(stderr, "store-crash: write: dropping old rounds: %s\n", strerror(-r));
		return EX_DATA;
	}
	free(old.k);

	gen_init(&g, seed);
	for (;;) {
		struct store_key k;
		const char *what;
		struct op o;
		bool sync = gen_next(&g, &o);

		make_key(seed, o.id, &k);
		switch (o.kind) {
		case OP_PUT:
			what = "put";
			fill(seed, o.id, buf, o.len);
			r = store_put(s, STORE_REC_META, &k, buf, o.len, 0, (uint32_t)o.id);
			break;
		case OP_DEL:
			what = "delete";
			r = store_delete(s, &k);
			break;
		default:
			what = "checkpoint";
			r = store_checkpoint(s);
			break;
		}
		if (r) {
			fprintf(stderr, "store-crash: write: op %" PRIu64 ": %s of record %" PRIu64
				": %s\n", g.op - 1, what, o.id, strerror(-r));
			return EX_DATA;
		}
		if (!sync)
			continue;
		r = store_sync(s);
		if (r) {
			fprintf(stderr, "store-crash: write: sync after op %" PRIu64 ": %s\n",
				g.op - 1, strerror(-r));
			return EX_DATA;
		}
		/* One write() per line: a kill cannot leave half a number. */
		if (dprintf(fd, "%" PRIu64 "\n", g.op) < 0 || fsync(fd)) {
			fprintf(stderr, "store-crash: %s: %s\n", acklog, strerror(errno));
			return EX_USAGE;
		}
	}
}

/* ---- checker ---- */

/* What may be found for a record id of one seed. */
enum want {
	W_NONE = 0, /* never put by the operations replayed */
	W_MUST,	    /* put and durable, not deleted */
	W_GONE,	    /* deleted durably */
	W_MAY,	    /* put or deleted by an unacknowledged operation */
	W_NEVER,    /* put after the last operation that can have run */
};

struct round {
	uint64_t seed;
	uint64_t acked;
	uint64_t nids;
	uint8_t *want;	/* by record id */
	uint32_t *len;	/* by record id */
	uint64_t must, gone, may, may_found, never;
};

/* The last complete line of the ack log; 0 when there is none. */
static int read_acked(const char *acklog, uint64_t *n)
{
	char buf[4096], *nl, *line;
	FILE *f = fopen(acklog, "re");
	long sz;
	size_t got;

	*n = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, sz > (long)sizeof(buf) - 1 ? sz - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	got = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[got] = 0;
	nl = strrchr(buf, '\n');
	if (!nl)
		return 0;
	*nl = 0;
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	return parse_u64(line, n);
}

static int plan_round(struct round *rd)
{
	struct gen g;
	struct op o;
	uint64_t win_end = 0, cap = 1024;

	rd->want = calloc(cap, 1);
	rd->len = calloc(cap, sizeof(*rd->len));
	gen_init(&g, rd->seed);
	for (;;) {
		bool sync;

		if (win_end && g.op >= win_end + LOOKAHEAD)
			break;
		sync = gen_next(&g, &o);
		if (!rd->want || !rd->len)
			return -ENOMEM;
		if (g.op > cap) {
			uint64_t nc = 2 * cap;
			uint8_t *w = realloc(rd->want, nc);
			uint32_t *l;

			if (!w)
				return -ENOMEM;
			rd->want = w;
			l = realloc(rd->len, nc * sizeof(*rd->len));
			if (!l)
				return -ENOMEM;
			rd->len = l;
			memset(rd->want + cap, 0, nc - cap);
			cap = nc;
		}
		if (g.op <= rd->acked) {
			if (o.kind == OP_PUT) {
				rd->want[o.id] = W_MUST;
				rd->len[o.id] = o.len;
			} else if (o.kind == OP_DEL) {
				rd->want[o.id] = W_GONE;
			}
		} else if (!win_end) {
			/* Started after the last acknowledged sync. */
			if (o.kind == OP_PUT) {
				rd->want[o.id] = W_MAY;
				rd->len[o.id] = o.len;
			} else if (o.kind == OP_DEL) {
				rd->want[o.id] = W_MAY;
			}
			if (sync)
				win_end = g.op;
		} else if (o.kind == OP_PUT) {
			/* The writer stops right after the sync that follows
			 * the window until it has logged the ack. */
			rd->want[o.id] = W_NEVER;
			rd->len[o.id] = o.len;
		}
	}
	rd->nids = g.op;
	free(g.live);
	return 0;
}

static int check_round(struct store *s, struct round *rd, uint8_t *buf, uint8_t *exp)
{
	int bad = 0;

	for (uint64_t id = 0; id < rd->nids; id++) {
		struct store_rec_info info;
		struct store_key k;
		size_t len = 0;
		int w = rd->want[id], r;

		if (w == W_NONE)
			continue;
		make_key(rd->seed, id, &k);
		r = store_get(s, &k, buf, MAX_LEN, &len, &info);
		if (r == -ENOENT) {
			if (w == W_MUST) {
				fprintf(stderr, "store-crash: seed %" PRIu64 " record %" PRIu64
					": acknowledged (sync after op %" PRIu64 ") but missing\n",
					rd->seed, id, rd->acked - 1);
				bad++;
			}
			rd->gone += w == W_GONE;
			rd->never += w == W_NEVER;
			rd->may += w == W_MAY;
			continue;
		}
		if (r) {
			fprintf(stderr, "store-crash: seed %" PRIu64 " record %" PRIu64 ": get: %s\n",
				rd->seed, id, strerror(-r));
			bad++;
			continue;
		}
		if (w == W_GONE || w == W_NEVER) {
			fprintf(stderr, "store-crash: seed %" PRIu64 " record %" PRIu64
				": exists but was %s\n", rd->seed, id,
				w == W_GONE ? "deleted durably" : "never written");
			bad++;
			continue;
		}
		/* plan_round() noted the length at the put, also for ids a
		 * later, unacknowledged delete turned into W_MAY. */
		fill(rd->seed, id, exp, rd->len[id]);
		if (len != rd->len[id] || info.type != STORE_REC_META ||
		    info.user != (uint32_t)id || memcmp(buf, exp, len)) {
			fprintf(stderr, "store-crash: seed %" PRIu64 " record %" PRIu64
				": content differs (len %zu, want %u)\n", rd->seed, id, len,
				rd->len[id]);
			bad++;
			continue;
		}
		if (w == W_MUST) {
			rd->must++;
		} else {
			rd->may++;
			rd->may_found++;
		}
	}
	return bad;
}

struct phantom_ctx {
	struct round *rounds;
	unsigned n;
	int bad;
};

static int find_phantoms(void *arg, const struct store_key *key,
			 const struct store_rec_info *info)
{
	struct phantom_ctx *c = arg;
	uint64_t seed = get64(key->b), id = get64(key->b + 8);
	struct store_key want;

	(void)info;
	for (unsigned i = 0; i < c->n; i++) {
		struct round *rd = &c->rounds[i];

		if (rd->seed != seed)
			continue;
		make_key(seed, id, &want);
		if (memcmp(&want, key, sizeof(want)) || id >= rd->nids ||
		    (rd->want[id] != W_MUST && rd->want[id] != W_MAY)) {
			fprintf(stderr, "store-crash: seed %" PRIu64 ": unexpected record %" PRIu64
				" in the store\n", seed, id);
			c->bad++;
		}
	}
	return 0;
}

static int do_verify(const char *path, struct round *rounds, unsigned n)
{
	struct store_open_opts oo = { .path = path, .direct = -1 };
	struct store_fsck_opts fo = { .path = path, .verify_data = true };
	struct store_fsck_report rep;
	struct phantom_ctx pc = { .rounds = rounds, .n = n };
	struct store_stats st;
	struct store *s;
	uint8_t *buf = malloc(MAX_LEN), *exp = malloc(MAX_LEN);
	uint64_t must = 0;
	int bad = 0, r, ret = EX_OK;

	if (!buf || !exp) {
		ret = EX_USAGE;
		goto out;
	}
	r = store_open(&oo, &s);
	if (r) {
		fprintf(stderr, "store-crash: verify: cannot open %s after the crash: %s\n", path,
			strerror(-r));
		ret = EX_OPEN;
		goto out;
	}
	store_get_stats(s, &st);
	for (unsigned i = 0; i < n; i++) {
		bad += check_round(s, &rounds[i], buf, exp);
		must += rounds[i].must;
	}
	r = store_iterate(s, find_phantoms, &pc);
	if (r) {
		fprintf(stderr, "store-crash: verify: iterate: %s\n", strerror(-r));
		bad++;
	}
	bad += pc.bad;
	r = store_close(s);
	if (r) {
		fprintf(stderr, "store-crash: verify: close: %s\n", strerror(-r));
		bad++;
	}
	for (unsigned i = 0; i < n; i++) {
		struct round *rd = &rounds[i];

		printf("seed=%" PRIu64 " acked_ops=%" PRIu64 " verified=%" PRIu64
		       " deleted_absent=%" PRIu64 " unacked=%" PRIu64 " unacked_present=%" PRIu64
		       " later_absent=%" PRIu64 "\n",
		       rd->seed, rd->acked, rd->must, rd->gone, rd->may, rd->may_found, rd->never);
	}
	printf("recovery replayed=%" PRIu64 " dropped_bytes=%" PRIu64 " records=%" PRIu64
	       " verified_total=%" PRIu64 "\n",
	       st.replayed, st.dropped_bytes, st.records, must);
	if (bad) {
		fprintf(stderr, "store-crash: verify: %d problems\n", bad);
		ret = EX_DATA;
		goto out;
	}
	r = store_fsck(&fo, &rep);
	if (r == -EUCLEAN || (!r && (rep.bad_records || !rep.accounting_ok))) {
		fprintf(stderr, "store-crash: verify: fsck found damage: %" PRIu64 " bad records,"
			" accounting %s, checkpoint %s\n", rep.bad_records,
			rep.accounting_ok ? "ok" : "wrong", rep.checkpoint_ok ? "ok" : "unusable");
		ret = EX_FSCK;
	} else if (r) {
		fprintf(stderr, "store-crash: verify: fsck could not run: %s\n", strerror(-r));
		ret = EX_OPEN;
	}
out:
	free(buf);
	free(exp);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: store-crash write SEED STORE ACKLOG\n"
			"       store-crash verify SEED STORE ACKLOG [SEED ACKLOG]...\n");
	return EX_USAGE;
}

int main(int argc, char **argv)
{
	struct round *rounds;
	uint64_t seed;
	unsigned n;
	int r;

	strata_log_init("store-crash", STRATA_LOG_WARN);
	if (argc < 5 || parse_u64(argv[2], &seed))
		return usage();
	if (!strcmp(argv[1], "write") && argc == 5)
		return do_write(seed, argv[3], argv[4]);
	if (strcmp(argv[1], "verify") || argc % 2 == 0)
		return usage();
	n = 1 + (unsigned)(argc - 5) / 2;
	rounds = calloc(n, sizeof(*rounds));
	if (!rounds)
		return EX_USAGE;
	for (unsigned i = 0; i < n; i++) {
		const char *seed_s = i ? argv[5 + 2 * (i - 1)] : argv[2];
		const char *log = i ? argv[6 + 2 * (i - 1)] : argv[4];

		if (parse_u64(seed_s, &rounds[i].seed))
			return usage();
		r = read_acked(log, &rounds[i].acked);
		if (!r)
			r = plan_round(&rounds[i]);
		if (r) {
			fprintf(stderr, "store-crash: %s: %s\n", log, strerror(-r));
			return EX_USAGE;
		}
	}
	r = do_verify(argv[3], rounds, n);
	for (unsigned i = 0; i < n; i++) {
		free(rounds[i].want);
		free(rounds[i].len);
	}
	free(rounds);
	return r;
}
