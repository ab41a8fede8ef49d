package org.silin

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.time.LocalDate
import java.time.ZoneId
import java.time.format.DateTimeFormatter

/**
 * The lead's day (layout 2) through the Kotlin API: arrivals at the door and
 * the home monitoring they set off, health checks due and missed, alerts,
 * the report that drafts itself, errands, dose and test histories, the
 * cell's handover, residents away who are called.
 *
 * The store's clock is the system's, so every day here is counted from
 * silin's today() (the device's date), never a fixed day; and the time of
 * day is unknown (after 20:00 raise_alerts adds a report reminder), so
 * alerts are told apart by their kind.
 */
class LeadDayCallsTest {

    @TempDir
    lateinit var dir: Path

    private val today: LocalDate = LocalDate.parse(today())
    private fun day(offset: Long): String = today.plusDays(offset).toString()

    /** 10:00 on the day [offset] days from today, in the device's zone. */
    private fun morning(offset: Long): String =
        today.plusDays(offset).atTime(10, 0).atZone(ZoneId.systemDefault())
            .format(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ssXXX"))

    private class Cell(val id: String, val household: String, val resident: String)

    private fun aCell(store: Store): Cell {
        val cell = store.createCell("East Lane 1", "Liangdang/Chengguan/Dongguan/Group 1", null)
        val household = store.addHousehold(cell, NewHousehold(address = "12 East Lane"))
        val resident = store.addMember(household, NewMember(name = "Wang Fang", phone = "13800000001"))
        return Cell(cell, household, resident)
    }

    private fun check(store: Store, cell: String, member: String, temperature: Double, at: String? = null): String =
        store.recordVisit(
            cell,
            NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Li Xiuying", memberId = member, temperature = temperature, at = at),
        )

    private fun health(day: LeadDay, member: String): HealthStatus =
        day.members.single { it.memberId == member }.health

    @Test
    fun `an arrival at the door sets off monitoring, and the due list follows the checks`() {
        openStore(dir).use { store ->
            val c = aCell(store)
            // A visitor from a high-risk area, recorded in one step: a new
            // member of the household, two checks a day for 14 days.
            val visitor = store.recordArrival(
                NewArrival(
                    householdId = c.household, newMember = NewMember(name = "Li Qiang", phone = "13900000002"),
                    kind = ArrivalKind.VISITOR, from = "Hongshan district", risk = RiskLevel.HIGH,
                    date = day(0), means = Means.TRAIN, by = "Li Xiuying",
                ),
            )
            val m = store.member(visitor)
            assertEquals(c.household, m.householdId)
            assertEquals(Residence.VISITOR, m.residence)
            assertEquals("Hongshan district", m.arrivalFrom)
            assertTrue(m.arrivalRiskArea)
            assertEquals(day(0), m.monitoringSince)
            assertEquals(day(13), m.monitoringUntil, "14 days counting the day of arrival")

            var lead = store.leadDay(c.id, day(0), 7)
            assertEquals(c.id, lead.cellId)
            assertEquals(day(0), lead.date)
            val due = lead.due.single()
            assertEquals(CheckDay(c.id, visitor, "Li Qiang", c.household, day(0), 2, 0, day(13), 13), due)
            assertEquals(listOf(due), store.dueChecks(emptyList(), day(0)), "the grid worker's round across cells")
            assertEquals(HealthStatus.UNDER_MONITORING, health(lead, visitor))
            assertEquals(HealthStatus.NORMAL, health(lead, c.resident))
            assertEquals(1L, lead.draft.arrivals)
            assertEquals(1L, lead.draft.underMonitoring)

            // One check: one to go. Two: nothing due today.
            check(store, c.id, visitor, 36.5)
            lead = store.leadDay(c.id, day(0), 7)
            assertEquals(1L, lead.due.single().done)
            assertEquals(2L, lead.due.single().required)
            check(store, c.id, visitor, 36.6)
            lead = store.leadDay(c.id, day(0), 7)
            assertTrue(lead.due.isEmpty())
            assertTrue(lead.missed.isEmpty())
            assertTrue(store.dueChecks(emptyList(), day(0)).isEmpty())
            assertTrue(lead.openTasks.none { it.kind == TaskKind.ALERT }, "normal checks raise nothing")

            // A resident returning from a medium-risk area: one check a day for 7 days.
            assertEquals(
                c.resident,
                store.recordArrival(
                    NewArrival(
                        householdId = c.household, memberId = c.resident, kind = ArrivalKind.RETURNING,
                        from = "Xi'an", risk = RiskLevel.MEDIUM, date = day(0), by = "Li Xiuying",
                    ),
                ),
                "someone in the register arrives as themselves",
            )
            val back = store.member(c.resident)
            assertEquals(day(6), back.monitoringUntil)
            val theirs = store.leadDay(c.id, day(0), 7).due.single { it.memberId == c.resident }
            assertEquals(1L, theirs.required)
            assertEquals(6L, theirs.daysLeft)
            // A low-risk arrival is registered and monitored not at all.
            val low = store.recordArrival(
                NewArrival(
                    householdId = c.household, newMember = NewMember(name = "Zhang San"), kind = ArrivalKind.RETURNING,
                    from = "Lanzhou", risk = RiskLevel.LOW, date = day(0), means = Means.BUS, by = "Li Xiuying",
                ),
            )
            assertNull(store.member(low).monitoringUntil)
            lead = store.leadDay(c.id, day(0), 7)
            assertTrue(lead.due.none { it.memberId == low })
            assertEquals(3L, lead.draft.arrivals)
            assertEquals(HealthStatus.NORMAL, health(lead, low))

            // On the last day of the visitor's monitoring the check is still
            // due, with no days left; the day after, nothing.
            assertEquals(0L, store.dueChecks(emptyList(), day(13)).single { it.memberId == visitor }.daysLeft)
            assertTrue(store.dueChecks(emptyList(), day(14)).none { it.memberId == visitor })
        }
    }

    @Test
    fun `missed and abnormal checks raise alert tasks, once, and a zero report is flagged`() {
        openStore(dir).use { store ->
            val c = aCell(store)
            // Arrived two days ago; one check the first day, none yesterday.
            val visitor = store.recordArrival(
                NewArrival(
                    householdId = c.household, newMember = NewMember(name = "Li Qiang"), kind = ArrivalKind.VISITOR,
                    from = "Hongshan district", risk = RiskLevel.HIGH, date = day(-2), by = "Li Xiuying",
                ),
            )
            check(store, c.id, visitor, 36.4, at = morning(-2))
            var lead = store.leadDay(c.id, day(0), 7)
            assertEquals(listOf(day(-2) to 1L, day(-1) to 0L), lead.missed.map { it.day to it.done })
            assertEquals(2L, lead.due.single().required)

            val raised = store.raiseAlerts(c.id)
            lead = store.leadDay(c.id, day(0), 7)
            val alerts = lead.openTasks.filter { it.kind == TaskKind.ALERT }
            assertEquals(2, alerts.size, "one alert per missed day")
            assertEquals(alerts.map { it.id }.toSet(), raised.toSet() intersect alerts.map { it.id }.toSet())
            assertTrue(alerts.all { it.memberId == visitor && it.householdId == c.household })
            assertEquals(
                setOf("missed:$visitor:${day(-2)}", "missed:$visitor:${day(-1)}"),
                alerts.map { it.source }.toSet(),
            )
            assertTrue(alerts.all { "Li Qiang" in it.title })
            // Anything else raised is today's report reminder (after 20:00).
            assertTrue(lead.openTasks.filter { it.id in raised && it.kind != TaskKind.ALERT }.all { it.kind == TaskKind.REMINDER })
            assertTrue(store.raiseAlerts(c.id).isEmpty(), "raised once")

            // An abnormal check: an alert at once, and the member shows it.
            check(store, c.id, visitor, 38.2)
            lead = store.leadDay(c.id, day(0), 7)
            assertEquals(HealthStatus.ABNORMAL, health(lead, visitor))
            assertEquals(3, lead.openTasks.count { it.kind == TaskKind.ALERT })
            val fever = lead.openTasks.single { it.kind == TaskKind.ALERT && it.source!!.startsWith("abnormal:") }
            assertEquals(visitor, fever.memberId)
            assertEquals(1L, lead.draft.abnormal)
            // Closing the alert takes it off the list.
            store.setTaskStatus(c.id, fever.id, TaskStatus.DONE)
            assertEquals(2, store.leadDay(c.id, day(0), 7).openTasks.count { it.kind == TaskKind.ALERT })

            // A zero report on a day the log has a fever: filed, but flagged.
            assertNull(lead.report)
            store.submitReport(c.id, NewReport(date = day(0), by = "Li Xiuying", arrivals = 0L, abnormal = 0L))
            val filed = store.leadDay(c.id, day(0), 7).report
            assertNotNull(filed)
            assertTrue(filed!!.zero)
            assertEquals("abnormal 0, log 1", filed.flag)
            // The report is in: no reminder for today, whatever the hour.
            assertTrue(store.raiseAlerts(c.id).isEmpty())

            // Yesterday's report, filed as the log has it, is not flagged.
            val yesterday = store.leadDay(c.id, day(-1), 7).draft
            store.submitReport(
                c.id,
                NewReport(date = day(-1), by = "Li Xiuying", arrivals = yesterday.arrivals, abnormal = yesterday.abnormal, at = morning(-1)),
            )
            assertNull(store.leadDay(c.id, day(-1), 7).report!!.flag)
        }
    }

    @Test
    fun `errands, doses, tests and a handover keep their records`() {
        openStore(dir).use { store ->
            val c = aCell(store)
            val errand = store.requestErrand(
                NewErrand(householdId = c.household, memberId = c.resident, request = "Buy blood-pressure pills", due = day(1)),
            )
            var lead = store.leadDay(c.id, day(0), 7)
            val waiting = lead.errands.single()
            assertEquals(errand, waiting.id)
            assertEquals(ErrandStatus.REQUESTED, waiting.status)
            assertEquals(day(1), waiting.due)
            assertEquals(c.resident, waiting.memberId)
            assertEquals(0L, lead.draft.errands)

            val visit = store.completeErrand(c.id, errand, "Li Xiuying", "delivered")
            lead = store.leadDay(c.id, day(0), 7)
            assertTrue(lead.errands.isEmpty(), "done: no longer waiting")
            assertEquals(1L, lead.draft.errands)
            val done = store.cell(c.id).visits.single { it.id == visit }
            assertEquals(VisitKind.ERRAND, done.kind)
            assertEquals(c.resident, done.memberId)
            assertThrows(StoreException::class.java) { store.completeErrand(c.id, errand, "Li Xiuying", null) }

            // Doses and tests are histories; the member's summary follows them.
            store.editMember(c.resident, listOf(MemberEdit.SetVaccinationDoses(2), MemberEdit.SetVaccinationLast("2021-08-01")))
            assertNotNull(store.addDose(NewDose(memberId = c.resident, number = 3L, date = "2022-03-01", kind = "inactivated", by = "Li Xiuying")))
            store.addTest(NewTest(memberId = c.resident, date = day(-5), kind = TestKind.PCR, result = TestResult.NEGATIVE, by = "Li Xiuying"))
            store.addTest(NewTest(memberId = c.resident, date = day(0), kind = TestKind.ANTIGEN, result = TestResult.PENDING, by = "Li Xiuying"))
            val m = store.member(c.resident)
            assertEquals(3L, m.vaccinationDoses)
            assertEquals("2022-03-01", m.vaccinationLast)
            assertEquals(day(0), m.testDate)
            assertEquals(TestResult.PENDING, m.testResult)

            // The lead is a member with a phone; a handover keeps the history.
            assertNull(lead.lead)
            val second = store.addMember(c.household, NewMember(name = "Li Xiuying", phone = "13700000004"))
            assertNotNull(store.handOver(c.id, c.resident, "grid worker Zhang"))
            assertEquals(c.resident, store.leadDay(c.id, day(0), 7).lead!!.memberId)
            store.handOver(c.id, second, "grid worker Zhang")
            val now = store.leadDay(c.id, day(0), 7).lead!!
            assertEquals(LeadTerm(second, "Li Xiuying", "13700000004", now.since), now)
            assertEquals("Li Xiuying", store.cell(c.id).cell.lead)
        }
    }

    @Test
    fun `a resident away is called and the not-called list updates`() {
        openStore(dir).use { store ->
            val c = aCell(store)
            val away = store.addMember(c.household, NewMember(name = "Wang Xiaojun", phone = "15100000003", residence = Residence.AWAY))
            store.editMember(away, listOf(MemberEdit.SetAwayAt("Bao'an, Shenzhen")))
            assertEquals("Bao'an, Shenzhen", store.member(away).awayAt)

            val never = store.awayNotCalled(emptyList(), day(0), 7).single()
            assertEquals(AwayResident(c.id, away, "Wang Xiaojun", "15100000003", "Bao'an, Shenzhen", null, null, null), never)
            assertEquals(listOf(never), store.leadDay(c.id, day(0), 7).away)

            // Called eight days ago: on the seven-day list, not the ten-day one.
            store.recordVisit(c.id, NewVisit(kind = VisitKind.CALL, by = "Li Xiuying", memberId = away, at = morning(-8), note = "working in Shenzhen, well"))
            val stale = store.awayNotCalled(emptyList(), day(0), 7).single()
            assertEquals(day(-8), stale.lastCalled)
            assertEquals("Li Xiuying", stale.calledBy)
            assertEquals(8L, stale.daysSince)
            assertTrue(store.awayNotCalled(emptyList(), day(0), 10).isEmpty())

            // Called today: off the list.
            store.recordVisit(c.id, NewVisit(kind = VisitKind.CALL, by = "Li Xiuying", memberId = away))
            assertTrue(store.awayNotCalled(emptyList(), day(0), 7).isEmpty())
            assertTrue(store.leadDay(c.id, day(0), 7).away.isEmpty())
            assertTrue(store.awayNotCalled(listOf(c.id), day(0), 0).any { it.memberId == away }, "0 days: everyone away")

            // Referred to a doctor: shown until cleared.
            store.editMember(away, listOf(MemberEdit.SetReferred(true)))
            assertTrue(store.member(away).referred)
            assertEquals(HealthStatus.REFERRED, health(store.leadDay(c.id, day(0), 7), away))
            store.editMember(away, listOf(MemberEdit.SetReferred(false)))
            assertFalse(store.member(away).referred)
        }
    }

    @Test
    fun `bad input is refused with a typed StoreError and nothing is written`() {
        openStore(dir).use { store ->
            val c = aCell(store)
            fun arrival(date: String = day(0), memberId: String? = null, newMember: NewMember? = null) = NewArrival(
                householdId = c.household, memberId = memberId, newMember = newMember, kind = ArrivalKind.RETURNING,
                from = "Xi'an", risk = RiskLevel.HIGH, date = date, by = "Li Xiuying",
            )
            val future = assertThrows(StoreException.Invalid::class.java) { store.recordArrival(arrival(date = day(1), memberId = c.resident)) }
            assertEquals("date", future.field)
            val nobody = assertThrows(StoreException.Invalid::class.java) { store.recordArrival(arrival()) }
            assertEquals("member", nobody.field)
            assertThrows(StoreException.Invalid::class.java) {
                store.recordArrival(arrival(memberId = c.resident, newMember = NewMember(name = "Two people")))
            }
            assertThrows(StoreException.Invalid::class.java) { store.recordArrival(arrival(date = "tomorrow", memberId = c.resident)) }
            assertThrows(StoreException.NotFound::class.java) { store.recordArrival(arrival(memberId = randomId())) }
            val dose = assertThrows(StoreException.Invalid::class.java) {
                store.addDose(NewDose(memberId = c.resident, date = day(3), by = "Li Xiuying"))
            }
            assertEquals("date", dose.field)
            assertThrows(StoreException.Invalid::class.java) {
                store.addTest(NewTest(memberId = c.resident, date = day(1), kind = TestKind.PCR, result = TestResult.NEGATIVE, by = "Li Xiuying"))
            }
            assertThrows(StoreException::class.java) { store.completeErrand(c.id, randomId(), "Li Xiuying", null) }
            assertThrows(StoreException::class.java) { store.handOver(c.id, randomId(), "Li Xiuying") }
            assertThrows(StoreException.Invalid::class.java) { store.leadDay(c.id, "29/11/2026", 7) }
            assertThrows(StoreException.NotFound::class.java) { store.leadDay(randomId(), day(0), 7) }

            val lead = store.leadDay(c.id, day(0), 7)
            assertEquals(listOf(c.resident), lead.members.map { it.memberId }, "nothing was written")
            assertTrue(lead.due.isEmpty())
            assertEquals(0L, lead.draft.arrivals)
            assertEquals(0L, store.member(c.resident).vaccinationDoses)
        }
    }
}
