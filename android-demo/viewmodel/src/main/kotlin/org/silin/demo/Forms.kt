package org.silin.demo

import org.silin.ArrivalKind
import org.silin.Means
import org.silin.RiskLevel
import org.silin.Sex
import org.silin.VisitKind
import org.silin.Vulnerability

/** The form fields silin may name in StoreException.Invalid. */
enum class Field {
    NAME, REGION_PATH, LEAD,
    ADDRESS, DOOR, PHONE,
    SEX, BIRTH_YEAR, ID_NUMBER, RELATION, RESIDENCE,
    ARRIVAL_FROM, ARRIVAL_DATE, MONITORING_SINCE, MONITORING_UNTIL, FROM, RISK, MEANS,
    KIND, BY, HOUSEHOLD, MEMBER, AT, TEMPERATURE, SYMPTOMS, OUTCOME, NOTE, TASK,
    DATE, ARRIVALS, ABNORMAL, UNDER_MONITORING, ERRANDS;

    companion object {
        /**
         * The form field an API field name means: silin names parameters
         * ("temperature", "member_id") and sometimes the short form
         * ("member", "household"). Null when it names no form field.
         */
        fun fromApi(name: String): Field? {
            val n = name.trim().lowercase().replace('-', '_').replace(' ', '_')
            val key = when {
                n == "id_number" -> n
                n.endsWith("_id") -> n.removeSuffix("_id")
                n == "region" || n == "path" -> "region_path"
                n == "day" -> "date"
                else -> n
            }
            return entries.firstOrNull { it.name.equals(key, ignoreCase = true) }
        }
    }
}

/** What the text fields of a form hold: strings as typed, choices as values. */
data class CellForm(val name: String, val regionPath: String, val lead: String = "")

data class HouseholdForm(val door: String = "", val address: String = "", val phone: String = "")

data class MemberForm(
    val householdId: String,
    val name: String,
    val sex: Sex? = null,
    val birthYear: String = "",
    val idNumber: String = "",
    val phone: String = "",
    val relation: String = "",
    val vulnerable: List<Vulnerability> = emptyList(),
)

/**
 * An arrival at the door, recorded in one step: [memberId] for someone in
 * the register (a resident coming back), or [name] (and [phone]) for a new
 * person, who joins [householdId]. The office's policy sets the monitoring
 * from [risk]: by default 14 days of two checks for high, 7 of one for
 * medium, none for low. A blank [date] is today.
 */
data class ArrivalForm(
    val householdId: String,
    val memberId: String? = null,
    val name: String = "",
    val phone: String = "",
    val kind: ArrivalKind = ArrivalKind.RETURNING,
    val from: String,
    val risk: RiskLevel,
    val date: String = "",
    val means: Means? = null,
)

data class VisitForm(
    val kind: VisitKind,
    val memberId: String? = null,
    val householdId: String? = null,
    /** As typed, e.g. "37.5" or "37,5"; blank for none. */
    val temperature: String = "",
    val symptoms: String = "",
    val outcome: String = "",
    val note: String = "",
)

/** Today's report as the form holds it; [ReportDraft.toForm] prefills it. */
data class ReportForm(val arrivals: String, val abnormal: String, val note: String = "")

fun ReportDraft.toForm(): ReportForm = ReportForm(arrivals.toString(), abnormal.toString())

internal object Parse {
    fun blankToNull(s: String): String? = s.trim().ifEmpty { null }

    /** A decimal number as people type it ("37.5", "37,5"); null if blank. */
    fun decimal(s: String): Result<Double?> {
        val t = s.trim().replace(',', '.')
        if (t.isEmpty()) return Result.success(null)
        return t.toDoubleOrNull()?.let { Result.success(it) }
            ?: Result.failure(IllegalArgumentException("write a number, e.g. 36.8"))
    }

    fun whole(s: String): Result<Long?> {
        val t = s.trim()
        if (t.isEmpty()) return Result.success(null)
        return t.toLongOrNull()?.let { Result.success(it) }
            ?: Result.failure(IllegalArgumentException("write a whole number, e.g. 0"))
    }
}
