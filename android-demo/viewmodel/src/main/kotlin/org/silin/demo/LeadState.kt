package org.silin.demo

import org.silin.HealthStatus
import org.silin.Residence
import org.silin.Sex
import org.silin.SyncPhase
import org.silin.SyncStats
import org.silin.SyncStatus
import org.silin.TaskKind
import org.silin.VisitKind
import org.silin.Vulnerability

/** Everything the lead householder's screens show. Immutable; replaced whole. */
data class LeadState(
    /** The day the screens are about, "YYYY-MM-DD". */
    val today: String,
    /** True until the first load has finished. */
    val loading: Boolean = true,
    /** The cells this phone holds, to choose "my cell" from. */
    val cells: List<CellChoice> = emptyList(),
    /** My cell; null until one is created or chosen. */
    val cell: CellState? = null,
    /** My cell's members whose monitoring covers today. */
    val monitoring: List<MonitoredMember> = emptyList(),
    /** Today's report: the prefilled counts, or what was filed. */
    val report: ReportState? = null,
    /** The lead's day in my cell, as silin's lead_day has it: checks due, alerts, calls to make. */
    val day: DayState? = null,
    /** The state of each form (errors, submitting, last saved). */
    val forms: Map<FormKind, FormState> = emptyMap(),
    val sync: SyncState = SyncState(),
    /** A message for the whole screen (an error outside any form); null: none. */
    val message: String? = null,
) {
    fun form(kind: FormKind): FormState = forms[kind] ?: FormState()
}

data class CellChoice(val id: String, val name: String, val regionPath: String)

data class CellState(
    val id: String,
    val name: String,
    val regionPath: String,
    val lead: String?,
    val households: List<HouseholdRow>,
    /** Today's visits, newest first. */
    val visitsToday: List<VisitRow>,
    /** Fields two phones changed at once; each value is kept. */
    val conflicts: Int,
) {
    val members: List<MemberRow> get() = households.flatMap { it.members }
    fun member(id: String): MemberRow? = members.firstOrNull { it.id == id }
}

data class HouseholdRow(
    val id: String,
    /** Door and address as the cell writes them, e.g. "Door 3 · 12 Lane 5". */
    val label: String,
    val phone: String?,
    val members: List<MemberRow>,
)

data class MemberRow(
    val id: String,
    val householdId: String,
    val name: String,
    val sex: Sex,
    val birthYear: Long?,
    val phone: String?,
    val residence: Residence,
    val arrivalFrom: String?,
    val arrivalDate: String?,
    val monitoringSince: String?,
    val monitoringUntil: String?,
    val underMonitoring: Boolean,
    val vulnerable: List<Vulnerability>,
    /** An abnormal health check today (fever or symptoms). */
    val abnormalToday: Boolean,
)

data class VisitRow(
    val id: String,
    val kind: VisitKind,
    val memberId: String?,
    val memberName: String?,
    val at: String,
    val by: String,
    val temperature: Double?,
    val symptoms: String?,
    val note: String?,
    val abnormal: Boolean,
)

data class MonitoredMember(
    val memberId: String,
    val householdId: String,
    val name: String,
    val phone: String?,
    val since: String?,
    val until: String?,
    /** A health check was recorded for them today. */
    val checkedToday: Boolean,
    /** Today's latest temperature, if any. */
    val lastTemperature: Double?,
    /** Any abnormal visit for them today: shown in red. */
    val abnormalToday: Boolean,
    val vulnerable: List<Vulnerability>,
)

/**
 * The lead's day in my cell (silin's `lead_day`): the health checks still
 * due today, the days someone missed, the open alerts and reminders, the
 * residents away not called lately, the errands waiting and each member's
 * health status.
 */
data class DayState(
    val date: String,
    /** Checks due today and not yet all done, in silin's order. */
    val due: List<DueCheck>,
    /** Earlier days of monitoring with fewer checks than required. */
    val missed: List<DueCheck>,
    /** Open alert and reminder tasks (missed or abnormal checks, a report not filed). */
    val alerts: List<AlertRow>,
    /** Residents living away not called for [LeadViewModel.NOT_CALLED_DAYS] days. */
    val awayNotCalled: List<AwayRow>,
    /** Errands asked for and not yet done. */
    val errandsWaiting: Int,
    /** The cell's lead householder (a member), if one was handed the cell. */
    val leadName: String?,
    val health: Map<String, HealthStatus>,
) {
    /** Checks still to make today, over everyone due. */
    val outstanding: Long get() = due.sumOf { it.outstanding }
}

/** A monitored member's checks on one day. */
data class DueCheck(
    val memberId: String,
    val householdId: String,
    val name: String,
    val day: String,
    val done: Long,
    val required: Long,
    /** The last day of monitoring, and the days left after [day]. */
    val until: String,
    val daysLeft: Long,
) {
    val outstanding: Long get() = (required - done).coerceAtLeast(0)

    /** The line the due list shows, e.g. "Li Lei: 1 of 2 checks, 13 days left". */
    val label: String
        get() = "$name: $done of $required checks" + when (daysLeft) {
            0L -> ", last day"
            1L -> ", 1 day left"
            else -> ", $daysLeft days left"
        }
}

data class AlertRow(
    val taskId: String,
    val kind: TaskKind,
    val title: String,
    val memberId: String?,
    val due: String?,
)

data class AwayRow(
    val memberId: String,
    val name: String,
    val phone: String?,
    val awayAt: String?,
    val lastCalled: String?,
    val daysSince: Long?,
)

data class ReportState(
    val date: String,
    /** Counts silin drafts from the day's log, to prefill today's report. */
    val draft: ReportDraft,
    /** The report filed for today, if any. */
    val filed: FiledReport?,
    /** True while my cell has not filed today's report. */
    val missing: Boolean,
)

data class ReportDraft(
    val arrivals: Long,
    val underMonitoring: Long,
    val abnormal: Long,
    val errands: Long,
) {
    /** Nobody arrived and nothing abnormal: a zero report. */
    val zero: Boolean get() = arrivals == 0L && abnormal == 0L
}

data class FiledReport(
    val by: String,
    val at: String,
    val arrivals: Long,
    val underMonitoring: Long,
    val abnormal: Long,
    val errands: Long,
    val note: String?,
    val zero: Boolean,
    /** How the counts differ from the day's log, for the office; null when they agree. */
    val flag: String? = null,
)

enum class FormKind { CELL, HOUSEHOLD, MEMBER, ARRIVAL, VISIT, REPORT }

/** One form's state: per-field errors, or one error for the whole form. */
data class FormState(
    val submitting: Boolean = false,
    val fieldErrors: Map<Field, String> = emptyMap(),
    /** An error that names no field of this form. */
    val formError: String? = null,
    /** The id of what the last successful submit wrote (or "" if it returns none). */
    val saved: String? = null,
) {
    val hasErrors: Boolean get() = fieldErrors.isNotEmpty() || formError != null
    fun error(field: Field): String? = fieldErrors[field]
}

data class SyncState(
    val running: Boolean = false,
    /** "nearby" or "hub": what is running or ran last. */
    val with: String? = null,
    /** What the last sync did, for the user; null if none yet. */
    val lastResult: String? = null,
    val lastStats: SyncStats? = null,
    val error: String? = null,
    /**
     * The store's sync status as silin reports it, step by step: phase,
     * n of m cells, bytes, when the last sync finished well, why the last
     * one failed. Any sync on this phone shows here (this screen's, a
     * background worker's). Null until the first status arrives.
     */
    val status: SyncStatus? = null,
) {
    /** A line for the sync screen, e.g. "Receiving: 12 of 40 cells, 1.2 MB". */
    val progress: String?
        get() {
            val s = status ?: return null
            val bytes = formatBytes(s.bytesUp + s.bytesDown)
            return when (s.phase) {
                SyncPhase.IDLE -> s.lastSynced?.let { "Last synced $it" }
                SyncPhase.CONNECTING -> "Connecting…"
                SyncPhase.SENDING, SyncPhase.RECEIVING -> {
                    val verb = if (s.phase == SyncPhase.SENDING) "Sending" else "Receiving"
                    if (s.cellsTotal > 0u) "$verb: ${s.cellsDone} of ${s.cellsTotal} cells, $bytes" else "$verb: $bytes"
                }
            }
        }
}

internal fun formatBytes(n: ULong): String = when {
    n < 1024uL -> "$n B"
    n < 1024uL * 1024uL -> "%.1f kB".format(java.util.Locale.ROOT, n.toDouble() / 1024)
    else -> "%.1f MB".format(java.util.Locale.ROOT, n.toDouble() / (1024 * 1024))
}
