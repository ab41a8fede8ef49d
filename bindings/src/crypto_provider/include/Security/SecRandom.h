/*
 * Not Apple's Security framework: SecRandomCopyBytes for SQLCipher's
 * CommonCrypto provider in silin-ffi's `rust-crypto` build, forwarded to
 * bindings/src/crypto_provider.rs (the operating system's random source).
 */
#ifndef SILIN_SECRANDOM_H
#define SILIN_SECRANDOM_H

#include <stddef.h>

typedef const void *SecRandomRef;
#define kSecRandomDefault ((SecRandomRef)NULL)

int silin_sqlcipher_random(void *buf, size_t len);

static inline int SecRandomCopyBytes(SecRandomRef rnd, size_t count,
                                     void *bytes) {
  (void)rnd;
  return silin_sqlcipher_random(bytes, count) == 0 ? 0 : -1;
}

#endif
