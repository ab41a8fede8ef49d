package org.silin.demo.app

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The key of the register file: 32 random bytes made once, kept only wrapped
 * (AES-GCM) by a key that never leaves the Android Keystore; the wrapped
 * bytes live in SharedPreferences. Store.open gets the raw key as 64 hex
 * digits. Without the Keystore key (app data restored to another phone) the
 * register cannot be opened: sync it back from a grid worker or the hub.
 */
object StoreKeys {
    private const val KEYSTORE = "AndroidKeyStore"
    private const val ALIAS = "silin-store-key-wrap"
    private const val PREFS = "silin-keys"
    private const val WRAPPED = "wrapped_store_key"
    private const val TRANSFORMATION = "AES/GCM/NoPadding"

    /** The store key as 64 hex digits, made on first use. Blocking: call off the main thread. */
    @Synchronized
    fun storeKeyHex(context: Context): String {
        val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
        val wrapping = wrappingKey()
        val raw = prefs.getString(WRAPPED, null)?.let { unwrap(wrapping, it) }
            ?: ByteArray(32).also { key ->
                SecureRandom().nextBytes(key)
                // commit, not apply: the file must never be encrypted with a key we failed to keep.
                check(prefs.edit().putString(WRAPPED, wrap(wrapping, key)).commit()) { "could not save the store key" }
            }
        try {
            return raw.joinToString("") { "%02x".format(it.toInt() and 0xff) }
        } finally {
            raw.fill(0)
        }
    }

    private fun wrappingKey(): SecretKey {
        val keyStore = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        (keyStore.getEntry(ALIAS, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    /** iv length (1 byte) + iv + ciphertext-with-tag, base64. */
    private fun wrap(wrapping: SecretKey, key: ByteArray): String {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, wrapping) // the Keystore picks a fresh IV
        val iv = cipher.iv
        val sealed = cipher.doFinal(key)
        return Base64.encodeToString(byteArrayOf(iv.size.toByte()) + iv + sealed, Base64.NO_WRAP)
    }

    private fun unwrap(wrapping: SecretKey, stored: String): ByteArray {
        val bytes = Base64.decode(stored, Base64.NO_WRAP)
        val ivLength = bytes[0].toInt()
        val iv = bytes.copyOfRange(1, 1 + ivLength)
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, wrapping, GCMParameterSpec(128, iv))
        return cipher.doFinal(bytes, 1 + ivLength, bytes.size - 1 - ivLength)
    }
}
