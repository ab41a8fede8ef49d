package org.silin.demo

import org.silin.StoreException
import org.silin.SyncException
import java.io.IOException

/** Turns what a call threw into a sentence for the lead householder. */
object UserMessages {
    fun of(e: Throwable): String = when (e) {
        is StoreException -> store(e)
        is SyncException -> sync(e)
        is PeerAbortedException -> "The other phone stopped the sync: ${e.reason}"
        is IOException -> "The connection to the other phone was lost (${e.message}). Nothing was lost; try the sync again."
        else -> "Something went wrong: ${e.message ?: e.javaClass.simpleName}"
    }

    private fun store(e: StoreException): String = when (e) {
        is StoreException.Invalid -> e.rule
        is StoreException.NotFound -> "That ${e.what} is not on this phone (any more). Sync, then try again."
        is StoreException.WrongKey -> "The register on this phone cannot be opened with its key: ${e.detail}"
        is StoreException.EncryptionUnavailable -> "This build of the app cannot encrypt the register: ${e.detail}"
        is StoreException.Closed -> "The register is closed. Restart the app."
        is StoreException.Incompatible -> "The register file cannot be read by this version of the app: ${e.detail}"
        is StoreException.Damaged -> "Part of the register is damaged (${e.detail}). Sync with a grid worker to restore it."
        is StoreException.Storage -> "The phone could not read or save the register: ${e.detail}. Free some space and try again."
        is StoreException.NotAllowed -> "This phone may not make that change: ${e.detail}"
    }

    private fun sync(e: SyncException): String = when (e) {
        is SyncException.NotEnrolled -> "This phone is not enrolled yet: ask the township office for a token. (${e.detail})"
        is SyncException.Refused -> "The sync was refused: ${e.detail}"
        is SyncException.Malformed -> "The other side sent something that is not a silin sync: ${e.detail}"
        is SyncException.SessionFailed -> "The sync was interrupted: ${e.detail} Nothing was lost; sync again."
        is SyncException.ClockSkew -> "The two clocks are more than a day apart. Set the date and time, then sync again."
        is SyncException.BadHubUrl -> "The hub address ${e.url} cannot be used: ${e.detail}"
        is SyncException.BadToken -> "The enrolment token is not right: ${e.detail}"
        is SyncException.HubUnreachable -> "The township hub could not be reached. Try again when the phone has a network. (${e.detail})"
        is SyncException.HubRefused -> "The township hub refused the sync (${e.kind}): ${e.detail}"
        is SyncException.Invalid -> e.rule
        is SyncException.NotFound -> "That ${e.what} is not on this phone (any more)."
        is SyncException.Closed -> "The register is closed. Restart the app."
        is SyncException.Storage -> "The phone could not save what the sync brought: ${e.detail}. Nothing was half-applied; try again."
        is SyncException.Cancelled -> "The sync was stopped. What it brought is kept; sync again to finish."
    }
}
