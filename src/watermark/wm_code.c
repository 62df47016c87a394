/*
 * wm_code.c: the key-derived pattern of the mark (which bins, which signs,
 * the sync sequence, the interleaver), the keyed payload tag and the
 * rate-1/2 convolutional code with its soft-decision Viterbi decoder
 * (docs/watermark.md "Payload and code"). Pure computation; the soft values
 * decoded here come from untrusted audio and only index fixed-size tables.
 */
#include "watermark/watermark_int.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/util.h"

#define G1	0171
#define G2	0133
#define NSTATES (1 << (WM_CONV_K - 1))

struct prf_stream {
	const uint8_t *b;
	size_t pos;
};

static uint32_t next_u32(struct prf_stream *s)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | s->b[s->pos++ % WM_SEED_BYTES];
	return v;
}

static void shuffle_u16(struct prf_stream *s, uint16_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = next_u32(s) % i;
		uint16_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void fill_signs(struct prf_stream *s, int8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i += 32) {
		uint32_t v = next_u32(s);

		for (size_t k = 0; k < 32 && i + k < n; k++)
			a[i + k] = (v >> k & 1) ? 1 : -1;
	}
}

int wm_pattern_seed(const struct crypto_wm_key *k, uint8_t seed[WM_SEED_BYTES])
{
	return crypto_wm_prf(k, "am-wm-pattern-v1", NULL, 0, seed, WM_SEED_BYTES);
}

int wm_pattern_from_seed(const uint8_t seed[WM_SEED_BYTES], struct wm_pattern **out)
{
	struct wm_pattern *p;
	uint16_t bins[WM_BINS];
	struct prf_stream s = {seed, 0};

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return AM_ERR_NOMEM;
	for (int i = 0; i < WM_BINS; i++)
		bins[i] = (uint16_t)(WM_BIN_LO + i);
	shuffle_u16(&s, bins, WM_BINS);
	for (int i = 0; i < WM_BINS; i++) {
		p->bin[i] = (int16_t)bins[i];
		p->sign[i] = (i & 1) ? -1 : 1; /* balanced: the bins are shuffled */
	}
	fill_signs(&s, p->sync, WM_PERIOD_FRAMES);
	fill_signs(&s, p->scramble, WM_PERIOD_FRAMES);
	for (int i = 0; i < WM_CODED_BITS; i++)
		p->perm[i] = (uint16_t)i;
	shuffle_u16(&s, p->perm, WM_CODED_BITS);
	*out = p;
	return 0;
}

int wm_pattern_new(const struct crypto_wm_key *k, struct wm_pattern **out)
{
	uint8_t *seed;
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	if (!(seed = malloc(WM_SEED_BYTES)))
		goto out;
	if ((rc = wm_pattern_seed(k, seed)) != 0 || (rc = wm_pattern_from_seed(seed, out)) != 0)
		goto out;
	(*out)->key = k;
out:
	if (seed)
		am_memzero(seed, WM_SEED_BYTES);
	free(seed);
	return rc;
}

void wm_pattern_free(struct wm_pattern *p)
{
	if (!p)
		return;
	am_memzero(p, sizeof(*p));
	free(p);
}

int wm_tag(const struct wm_pattern *p, const uint8_t payload[WM_PAYLOAD_BYTES],
	   uint8_t tag[WM_TAG_BYTES])
{
	if (!p->key) /* a pattern from a seed alone cannot tag (wm_pattern_from_seed) */
		return AM_ERR_CRYPTO;
	return crypto_wm_prf(p->key, "am-wm-tag-v1", payload, WM_PAYLOAD_BYTES, tag, WM_TAG_BYTES);
}

static int parity(unsigned v)
{
	return __builtin_parity(v);
}

void wm_conv_encode(const uint8_t info[WM_INFO_BYTES], uint8_t coded[WM_CODED_BITS])
{
	unsigned reg = 0;

	for (int i = 0; i < WM_STEPS; i++) {
		unsigned bit = i < WM_INFO_BITS ? (unsigned)(info[i / 8] >> (7 - i % 8) & 1) : 0;

		reg = ((reg << 1) | bit) & ((1u << WM_CONV_K) - 1);
		coded[2 * i] = (uint8_t)parity(reg & G1);
		coded[2 * i + 1] = (uint8_t)parity(reg & G2);
	}
}

/* One trellis step: from metric[] to next[], survivors into dec (one bit
 * per state: the input bit of the best predecessor's oldest bit). */
static void viterbi_step(const float *metric, float *next, uint8_t *dec, float s0, float s1)
{
	for (int ns = 0; ns < NSTATES; ns++) {
		unsigned bit = (unsigned)ns & 1, best_old = 0;
		float best = -1e30f;

		for (unsigned old = 0; old < 2; old++) {
			unsigned ps = (unsigned)ns >> 1 | old << (WM_CONV_K - 2);
			unsigned reg = (ps << 1 | bit) & ((1u << WM_CONV_K) - 1);
			float m = metric[ps] + (parity(reg & G1) ? -s0 : s0) +
				  (parity(reg & G2) ? -s1 : s1);

			if (m > best) {
				best = m;
				best_old = old;
			}
		}
		next[ns] = best;
		dec[ns] = (uint8_t)best_old;
	}
}

int wm_viterbi(const float soft[WM_CODED_BITS], uint8_t info[WM_INFO_BYTES])
{
	uint8_t(*dec)[NSTATES] = malloc(sizeof(uint8_t[WM_STEPS][NSTATES]));
	float metric[NSTATES], next[NSTATES];
	unsigned state = 0;

	if (!dec)
		return AM_ERR_NOMEM;
	for (int s = 0; s < NSTATES; s++)
		metric[s] = s ? -1e29f : 0.0f;
	for (int i = 0; i < WM_STEPS; i++) {
		viterbi_step(metric, next, dec[i], soft[2 * i], soft[2 * i + 1]);
		memcpy(metric, next, sizeof(metric));
	}
	/* The tail drove the encoder back to state 0: trace back from there. */
	memset(info, 0, WM_INFO_BYTES);
	for (int i = WM_STEPS - 1; i >= 0; i--) {
		unsigned bit = state & 1;

		if (i < WM_INFO_BITS && bit)
			info[i / 8] |= (uint8_t)(1u << (7 - i % 8));
		state = state >> 1 | (unsigned)dec[i][state] << (WM_CONV_K - 2);
	}
	free(dec);
	return 0;
}

int wm_fragment_bits(const struct wm_pattern *p, const uint8_t payload[WM_PAYLOAD_BYTES],
		     uint8_t bits[WM_CODED_BITS])
{
	uint8_t info[WM_INFO_BYTES], coded[WM_CODED_BITS];
	int rc;

	memcpy(info, payload, WM_PAYLOAD_BYTES);
	if ((rc = wm_tag(p, payload, info + WM_PAYLOAD_BYTES)) != 0)
		return rc;
	wm_conv_encode(info, coded);
	for (int j = 0; j < WM_CODED_BITS; j++)
		bits[p->perm[j]] = coded[j];
	return 0;
}
