/*
 * Not Apple's CommonCrypto. For silin-ffi's `rust-crypto` build only: the
 * few CommonCrypto calls SQLCipher's CommonCrypto provider (crypto_cc.c in
 * the SQLCipher amalgamation, compiled with SQLCIPHER_CRYPTO_CC) makes,
 * each forwarded to a Rust function in bindings/src/crypto_provider.rs.
 * The names follow CommonCrypto; the values are our own (nothing but that
 * provider and these functions sees them). See that module's doc.
 */
#ifndef SILIN_COMMONCRYPTO_H
#define SILIN_COMMONCRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* bindings/src/crypto_provider.rs: 0 on success, -1 otherwise. */
int silin_sqlcipher_hmac(int alg, const void *key, size_t key_len,
                         const void *in1, size_t in1_len,
                         const void *in2, size_t in2_len,
                         void *out, size_t out_len);
int silin_sqlcipher_pbkdf2(int alg, const void *pass, size_t pass_len,
                           const void *salt, size_t salt_len,
                           unsigned rounds, void *key, size_t key_len);
int silin_sqlcipher_aes256_cbc(int encrypt, const void *key, size_t key_len,
                               const void *iv, const void *in, void *out,
                               size_t len);
int silin_sqlcipher_random(void *buf, size_t len);

typedef int32_t CCCryptorStatus;
enum { kCCSuccess = 0, kCCParamError = -4300, kCCBufferTooSmall = -4301 };

/* Hashes, numbered as crypto_provider.rs numbers them. */
#define CC_SHA1_DIGEST_LENGTH 20
#define CC_SHA256_DIGEST_LENGTH 32
#define CC_SHA512_DIGEST_LENGTH 64

/* HMAC. SQLCipher's provider calls Init, Update once or twice, then Final
 * on one context: the context keeps the pieces and Final hashes them in
 * one call. */
typedef int CCHmacAlgorithm;
enum { kCCHmacAlgSHA1 = 0, kCCHmacAlgSHA256 = 1, kCCHmacAlgSHA512 = 2 };

typedef struct {
  CCHmacAlgorithm alg;
  const void *key;
  size_t key_len;
  const void *part[2];
  size_t part_len[2];
  int parts; /* more than 2: refused at Final */
} CCHmacContext;

static inline void CCHmacInit(CCHmacContext *ctx, CCHmacAlgorithm alg,
                              const void *key, size_t key_len) {
  ctx->alg = alg;
  ctx->key = key;
  ctx->key_len = key_len;
  ctx->part[0] = ctx->part[1] = NULL;
  ctx->part_len[0] = ctx->part_len[1] = 0;
  ctx->parts = 0;
}

static inline void CCHmacUpdate(CCHmacContext *ctx, const void *data,
                                size_t len) {
  if (ctx->parts < 2) {
    ctx->part[ctx->parts] = data;
    ctx->part_len[ctx->parts] = len;
  }
  ctx->parts++;
}

/* CommonCrypto's Final cannot fail, and SQLCipher writes what it returns
 * as a page's HMAC: rather than write a wrong one, stop. (Unreachable from
 * SQLCipher's provider: its algorithms and sizes are the ones accepted.) */
static inline void CCHmacFinal(CCHmacContext *ctx, void *out) {
  size_t out_len = ctx->alg == kCCHmacAlgSHA1     ? CC_SHA1_DIGEST_LENGTH
                   : ctx->alg == kCCHmacAlgSHA256 ? CC_SHA256_DIGEST_LENGTH
                                                  : CC_SHA512_DIGEST_LENGTH;
  if (ctx->parts > 2 ||
      silin_sqlcipher_hmac(ctx->alg, ctx->key, ctx->key_len, ctx->part[0],
                           ctx->part_len[0], ctx->part[1], ctx->part_len[1],
                           out, out_len) != 0) {
    abort();
  }
}

/* PBKDF2. */
typedef uint32_t CCPBKDFAlgorithm;
enum { kCCPBKDF2 = 2 };
typedef uint32_t CCPseudoRandomAlgorithm;
enum {
  kCCPRFHmacAlgSHA1 = kCCHmacAlgSHA1,
  kCCPRFHmacAlgSHA256 = kCCHmacAlgSHA256,
  kCCPRFHmacAlgSHA512 = kCCHmacAlgSHA512
};

static inline int CCKeyDerivationPBKDF(CCPBKDFAlgorithm algorithm,
                                       const char *password,
                                       size_t password_len,
                                       const uint8_t *salt, size_t salt_len,
                                       CCPseudoRandomAlgorithm prf,
                                       unsigned rounds, uint8_t *key,
                                       size_t key_len) {
  if (algorithm != kCCPBKDF2) return kCCParamError;
  return silin_sqlcipher_pbkdf2((int)prf, password, password_len, salt,
                                salt_len, rounds, key, key_len) == 0
             ? kCCSuccess
             : kCCParamError;
}

/* AES-256-CBC without padding. A "cryptor" only remembers its arguments
 * (the caller's key and IV outlive it); Update does the whole message. */
typedef uint32_t CCOperation;
enum { kCCEncrypt = 0, kCCDecrypt = 1 };
typedef uint32_t CCAlgorithm;
enum { kCCAlgorithmAES128 = 0 }; /* AES; the key's size says which */
enum { kCCKeySizeAES256 = 32, kCCBlockSizeAES128 = 16 };

typedef struct {
  CCOperation op;
  const void *key;
  size_t key_len;
  const void *iv;
} CCCryptorRef;

static inline CCCryptorStatus CCCryptorCreate(CCOperation op, CCAlgorithm alg,
                                              uint32_t options,
                                              const void *key, size_t key_len,
                                              const void *iv,
                                              CCCryptorRef *cryptor) {
  /* options 0: CBC, no padding. */
  if (alg != kCCAlgorithmAES128 || options != 0 || cryptor == NULL ||
      (op != kCCEncrypt && op != kCCDecrypt))
    return kCCParamError;
  cryptor->op = op;
  cryptor->key = key;
  cryptor->key_len = key_len;
  cryptor->iv = iv;
  return kCCSuccess;
}

static inline CCCryptorStatus CCCryptorUpdate(CCCryptorRef cryptor,
                                              const void *in, size_t in_len,
                                              void *out, size_t out_avail,
                                              size_t *moved) {
  if (moved == NULL || out_avail < in_len) return kCCBufferTooSmall;
  if (silin_sqlcipher_aes256_cbc(cryptor.op == kCCEncrypt, cryptor.key,
                                 cryptor.key_len, cryptor.iv, in, out,
                                 in_len) != 0)
    return kCCParamError;
  *moved = in_len;
  return kCCSuccess;
}

static inline CCCryptorStatus CCCryptorFinal(CCCryptorRef cryptor, void *out,
                                             size_t out_avail, size_t *moved) {
  (void)cryptor;
  (void)out;
  (void)out_avail;
  if (moved == NULL) return kCCParamError;
  *moved = 0;
  return kCCSuccess;
}

static inline CCCryptorStatus CCCryptorRelease(CCCryptorRef cryptor) {
  (void)cryptor;
  return kCCSuccess;
}

#endif
