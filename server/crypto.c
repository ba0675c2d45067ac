/* crypto.c — SHA-1 (FIPS 180-4 §6.1), base64 (RFC 4648 §4) and
 * SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
 * 2012), each written from its specification.
 *
 * SHA-1 is here only because ZooKeeper's digest scheme is defined with it
 * (identity = user:base64(sha1("user:password"))); it is not used for
 * anything that needs collision resistance.  SipHash-2-4 is the keyed hash
 * that derives session passwords from session ids. */
#include "server/server_int.h"

#include <string.h>

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t block[64]) {
  uint32_t w[80];
  for (int t = 0; t < 16; t++)
    w[t] = proto_load_be32(block + (size_t)4 * (size_t)t);
  for (int t = 16; t < 80; t++)
    w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int t = 0; t < 80; t++) {
    uint32_t f, k;
    if (t < 20) {
      f = (b & c) ^ (~b & d); /* Ch */
      k = 0x5a827999u;
    } else if (t < 40) {
      f = b ^ c ^ d; /* Parity */
      k = 0x6ed9eba1u;
    } else if (t < 60) {
      f = (b & c) ^ (b & d) ^ (c & d); /* Maj */
      k = 0x8f1bbcdcu;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6u;
    }
    uint32_t tmp = rol32(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = rol32(b, 30);
    b = a;
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void srv_sha1(const void *data, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
                   0xc3d2e1f0u};
  const uint8_t *p = data;
  size_t left = len;
  while (left >= 64) {
    sha1_block(h, p);
    p += 64;
    left -= 64;
  }
  /* Padding (§5.1.1): 0x80, zeros, then the message length in bits as a
   * 64-bit big-endian integer; one or two final blocks. */
  uint8_t tail[128];
  memset(tail, 0, sizeof tail);
  if (left > 0)
    memcpy(tail, p, left);
  tail[left] = 0x80;
  size_t tail_len = left + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++)
    tail[tail_len - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
  sha1_block(h, tail);
  if (tail_len == 128)
    sha1_block(h, tail + 64);
  for (int i = 0; i < 5; i++) {
    proto_store_be32(out + (size_t)4 * (size_t)i, h[i]);
  }
}

size_t srv_base64(const void *data, size_t len, char *out) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const uint8_t *p = data;
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static uint64_t rol64(uint64_t x, int n) { return (x << n) | (x >> (64 - n)); }

static uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

struct sip_state {
  uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip_state *s) {
  s->v0 += s->v1;
  s->v1 = rol64(s->v1, 13);
  s->v1 ^= s->v0;
  s->v0 = rol64(s->v0, 32);
  s->v2 += s->v3;
  s->v3 = rol64(s->v3, 16);
  s->v3 ^= s->v2;
  s->v0 += s->v3;
  s->v3 = rol64(s->v3, 21);
  s->v3 ^= s->v0;
  s->v2 += s->v1;
  s->v1 = rol64(s->v1, 17);
  s->v1 ^= s->v2;
  s->v2 = rol64(s->v2, 32);
}

static void sip_compress(struct sip_state *s, uint64_t m) {
  s->v3 ^= m;
  sip_round(s); /* c = 2 compression rounds */
  sip_round(s);
  s->v0 ^= m;
}

uint64_t srv_siphash24(const uint8_t key[16], const void *data, size_t len) {
  uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
  struct sip_state s = {
      .v0 = k0 ^ 0x736f6d6570736575ULL, /* "somepseudorandomlygeneratedbytes" */
      .v1 = k1 ^ 0x646f72616e646f6dULL,
      .v2 = k0 ^ 0x6c7967656e657261ULL,
      .v3 = k1 ^ 0x7465646279746573ULL,
  };
  const uint8_t *p = data;
  size_t full = len - len % 8;
  for (size_t i = 0; i < full; i += 8)
    sip_compress(&s, load_le64(p + i));
  /* Last word: the remaining bytes, little-endian, with len mod 256 in the
   * top byte. */
  uint64_t last = (uint64_t)(len & 0xff) << 56;
  for (size_t i = 0; i < len % 8; i++)
    last |= (uint64_t)p[full + i] << (8 * i);
  sip_compress(&s, last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; i++) /* d = 4 finalization rounds */
    sip_round(&s);
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
