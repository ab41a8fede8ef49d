/*
 * Not Apple's CoreFoundation: SQLCipher's CommonCrypto provider reads its
 * version from a bundle when TARGET_OS_MAC is set. silin-ffi's `rust-crypto`
 * build sets it so that `PRAGMA cipher_provider_version` names this build's
 * crypto (the provider's name stays "commoncrypto", a string in its C).
 */
#ifndef SILIN_COREFOUNDATION_H
#define SILIN_COREFOUNDATION_H

#ifndef TARGET_OS_MAC
#define TARGET_OS_MAC 1
#endif

typedef const char *CFTypeRef;
typedef const char *CFStringRef;
typedef const char *CFBundleRef;
#define CFSTR(s) (s)
#define kCFStringEncodingUTF8 0

static inline CFBundleRef CFBundleGetBundleWithIdentifier(CFStringRef id) {
  return id;
}

static inline CFTypeRef CFBundleGetValueForInfoDictionaryKey(CFBundleRef b,
                                                             CFStringRef k) {
  (void)b;
  (void)k;
  return "silin rust-crypto (RustCrypto aes, cbc, hmac, pbkdf2, sha1, sha2)";
}

static inline const char *CFStringGetCStringPtr(CFTypeRef s, int encoding) {
  (void)encoding;
  return s;
}

#endif
