package org.silin.demo

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import org.silin.ArrivalKind
import org.silin.HealthStatus
import org.silin.Means
import org.silin.Residence
import org.silin.RiskLevel
import org.silin.TaskKind
import org.silin.Sex
import org.silin.VisitKind
import org.silin.Vulnerability
import java.nio.file.Path
import java.time.LocalDate

/** A lead householder's day, through the view-model, on a real store. */
class LeadDayTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `a lead's day - cell, members, visits, fever shown, report filed`() {
        Phone(dir, "lead", "Wang Fang", 1).use { phone ->
            val vm = phone.vm
            val start = vm.start().await()
            assertFalse(start.loading)
            assertNull(start.cell, "a new phone has no cell yet")

            // My cell.
            val cellId = vm.createCell(CellForm("Building 7 east", REGION)).await()
            assertNotNull(cellId)
            var s = vm.state.value
            assertEquals(cellId, s.cell?.id)
            assertEquals("Wang Fang", s.cell?.lead)
            assertEquals(listOf(cellId), s.cells.map { it.id })

            // Households and members.
            val wang = vm.addHousehold(HouseholdForm(door = "3", address = "12 Lane 5")).await()!!
            val li = vm.addHousehold(HouseholdForm(door = "4", phone = "13800000004")).await()!!
            val fang = vm.addMember(MemberForm(wang, "Wang Fang", Sex.FEMALE, birthYear = "1978")).await()!!
            val grandpa = vm.addMember(
                MemberForm(wang, "Wang Jun", Sex.MALE, birthYear = "1941", vulnerable = listOf(Vulnerability.ELDERLY)),
            ).await()!!
            val lei = vm.addMember(MemberForm(li, "Li Lei", Sex.MALE, birthYear = "1999", phone = "13900000001")).await()!!
            s = vm.state.value
            assertEquals(2, s.cell!!.households.size)
            assertEquals(setOf(fang, grandpa, lei), s.cell!!.members.map { it.id }.toSet())
            assertEquals("Door 3 · 12 Lane 5", s.cell!!.households.first { it.id == wang }.label)
            assertTrue(s.monitoring.isEmpty())

            // Li Lei came back today from a high-risk area: under monitoring
            // for 14 days, the policy's default.
            val today = s.today
            val until = LocalDate.parse(today).plusDays(13).toString()
            assertEquals(lei, vm.recordArrival(ArrivalForm(li, memberId = lei, from = "Wenzhou", risk = RiskLevel.HIGH)).await())
            s = vm.state.value
            assertEquals(listOf(lei), s.monitoring.map { it.memberId })
            assertEquals(until, s.monitoring.single().until)
            assertFalse(s.monitoring.single().checkedToday)
            val leiRow = s.cell!!.member(lei)!!
            assertEquals(Residence.RETURNED, leiRow.residence)
            assertTrue(leiRow.underMonitoring)

            // Door-knocks and health checks; Li Lei has a fever.
            assertNotNull(vm.recordVisit(VisitForm(VisitKind.DOOR_KNOCK, householdId = wang, note = "all well")).await())
            assertNotNull(vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = grandpa, temperature = "36.6")).await())
            assertNotNull(vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = lei, temperature = "38,2")).await())
            s = vm.state.value
            assertFalse(s.form(FormKind.VISIT).hasErrors)
            assertEquals(3, s.cell!!.visitsToday.size)
            val monitored = s.monitoring.single()
            assertTrue(monitored.checkedToday)
            assertTrue(monitored.abnormalToday, "a fever is shown as abnormal")
            assertEquals(38.2, monitored.lastTemperature)
            assertTrue(s.cell!!.member(lei)!!.abnormalToday)
            assertFalse(s.cell!!.member(grandpa)!!.abnormalToday)
            val feverVisit = s.cell!!.visitsToday.first { it.memberId == lei }
            assertTrue(feverVisit.abnormal)
            assertEquals("Li Lei", feverVisit.memberName)

            // Today's report: prefilled, then filed; the cell no longer misses it.
            val report = s.report!!
            assertTrue(report.missing)
            assertNull(report.filed)
            assertEquals(ReportDraft(arrivals = 1, underMonitoring = 1, abnormal = 1, errands = 0), report.draft)
            assertFalse(report.draft.zero)
            assertTrue(phone.store.cellsMissingReport(today).any { it.id == cellId })

            assertTrue(vm.fileReport(report.draft.toForm().copy(note = "Li Lei sent for a test")).await())
            s = vm.state.value
            assertFalse(s.report!!.missing)
            val filed = s.report!!.filed!!
            assertEquals("Wang Fang", filed.by)
            assertEquals(1L, filed.arrivals)
            assertEquals(1L, filed.abnormal)
            assertEquals(1L, filed.underMonitoring)
            assertFalse(filed.zero)
            assertTrue(phone.store.cellsMissingReport(today).none { it.id == cellId })
        }
    }

    @Test
    fun `a quiet day files a zero report from the prefilled counts`() {
        Phone(dir, "quiet", "Zhao Min", 2).use { phone ->
            val vm = phone.vm
            vm.start().await()
            vm.createCell(CellForm("Building 2", REGION)).await()!!
            val h = vm.addHousehold(HouseholdForm(door = "1")).await()!!
            val m = vm.addMember(MemberForm(h, "Zhao Min")).await()!!
            vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = m, temperature = "36.5")).await()!!
            vm.recordVisit(VisitForm(VisitKind.ERRAND, householdId = h, note = "medicine for Door 1")).await()!!

            val draft = vm.state.value.report!!.draft
            assertTrue(draft.zero)
            assertEquals(1L, draft.errands)
            assertTrue(vm.fileDraftReport().await())
            val s = vm.state.value
            assertFalse(s.report!!.missing)
            assertTrue(s.report!!.filed!!.zero)
            assertEquals(1L, s.report!!.filed!!.errands)
        }
    }

    @Test
    fun `the chosen cell is reported to the app and kept on reopening`() {
        var chosen: String? = null
        val id = Phone(dir, "keep", "Sun Li", 3).use { phone ->
            phone.vm.onCellChosen = { chosen = it }
            phone.vm.start().await()
            phone.vm.createCell(CellForm("Building 9", REGION)).await()!!
        }
        assertEquals(id, chosen)
        Phone(dir, "keep", "Sun Li", 3).use { phone ->
            val s = phone.vm.start().await()
            assertEquals(id, s.cell?.id, "the lead's own cell is picked on reopening")
        }
    }

    @Test
    fun `the due list follows an arrival at the door and each health check`() {
        Phone(dir, "due", "Li Xiuying", 4).use { phone ->
            val vm = phone.vm
            vm.start().await()
            vm.createCell(CellForm("Building 5", REGION)).await()!!
            val h = vm.addHousehold(HouseholdForm(door = "2")).await()!!
            vm.addMember(MemberForm(h, "Wang Fang")).await()!!
            var day = vm.state.value.day!!
            assertTrue(day.due.isEmpty(), "nobody under monitoring: nothing due")
            assertTrue(day.alerts.none { it.kind == TaskKind.ALERT })

            // A visitor from a high-risk area, recorded at the door in one step.
            val visitor = vm.recordArrival(
                ArrivalForm(h, name = "Li Qiang", phone = "13900000002", kind = ArrivalKind.VISITOR, from = "Hongshan", risk = RiskLevel.HIGH, means = Means.TRAIN),
            ).await()!!
            var s = vm.state.value
            assertFalse(s.form(FormKind.ARRIVAL).hasErrors)
            assertEquals(Residence.VISITOR, s.cell!!.member(visitor)!!.residence)
            day = s.day!!
            val today = LocalDate.parse(s.today)
            val until = today.plusDays(13).toString()
            assertEquals(listOf(DueCheck(visitor, h, "Li Qiang", s.today, 0, 2, until, 13)), day.due)
            assertEquals("Li Qiang: 0 of 2 checks, 13 days left", day.due.single().label)
            assertEquals(2L, day.outstanding)
            assertEquals(HealthStatus.UNDER_MONITORING, day.health[visitor])
            assertEquals(1L, s.report!!.draft.arrivals)

            // One check: one to go.
            vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = visitor, temperature = "36.5")).await()!!
            day = vm.state.value.day!!
            assertEquals(1L, day.due.single().done)
            assertEquals("Li Qiang: 1 of 2 checks, 13 days left", day.due.single().label)
            assertEquals(1L, day.outstanding)

            // Two: nothing due today, nothing missed, no alert.
            vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = visitor, temperature = "36.6")).await()!!
            day = vm.state.value.day!!
            assertTrue(day.due.isEmpty())
            assertTrue(day.missed.isEmpty())
            assertEquals(0L, day.outstanding)
            assertTrue(day.alerts.none { it.kind == TaskKind.ALERT })

            // A third, with a fever: an alert shows at once, the member is abnormal.
            vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = visitor, temperature = "38.1")).await()!!
            s = vm.state.value
            val alert = s.day!!.alerts.single { it.kind == TaskKind.ALERT }
            assertEquals(visitor, alert.memberId)
            assertTrue("Li Qiang" in alert.title, alert.title)
            assertEquals(HealthStatus.ABNORMAL, s.day!!.health[visitor])
            assertEquals(1L, s.report!!.draft.abnormal)

            // Dealt with: off the list.
            vm.dismissAlert(alert.taskId).await()
            assertTrue(vm.state.value.day!!.alerts.none { it.kind == TaskKind.ALERT })

            // The same list across cells, as a grid worker's phone sees it.
            assertTrue(phone.store.dueChecks(emptyList(), s.today).isEmpty())
        }
    }

    @Test
    fun `a check missed yesterday shows as missed and raises one alert when the app opens`() {
        val yesterday = LocalDate.parse(org.silin.today()).minusDays(1).toString()
        val visitor = Phone(dir, "missed", "Li Xiuying", 5).use { phone ->
            val vm = phone.vm
            vm.start().await()
            vm.createCell(CellForm("Building 6", REGION)).await()!!
            val h = vm.addHousehold(HouseholdForm(door = "1")).await()!!
            val m = vm.addMember(MemberForm(h, "Wang Lei")).await()!!
            // A resident back yesterday from a medium-risk area: one check a day for 7 days.
            assertEquals(m, vm.recordArrival(ArrivalForm(h, memberId = m, from = "Xi'an", risk = RiskLevel.MEDIUM, date = yesterday)).await())
            val day = vm.state.value.day!!
            assertEquals(listOf(yesterday to 0L), day.missed.map { it.day to it.done })
            assertEquals(listOf(1L to 5L), day.due.map { it.required to it.daysLeft })
            m
        }
        // The app opens again: the missed day becomes one alert task, once.
        Phone(dir, "missed", "Li Xiuying", 5).use { phone ->
            val s = phone.vm.start().await()
            val alert = s.day!!.alerts.single { it.kind == TaskKind.ALERT }
            assertEquals(visitor, alert.memberId)
            val again = phone.vm.raiseAlerts().await()
            assertEquals(listOf(alert), again.day!!.alerts.filter { it.kind == TaskKind.ALERT })
        }
    }

    @Test
    fun `an arrival naming nobody is refused on the form and nothing is written`() {
        Phone(dir, "nobody", "Li Xiuying", 6).use { phone ->
            val vm = phone.vm
            vm.start().await()
            vm.createCell(CellForm("Building 8", REGION)).await()!!
            val h = vm.addHousehold(HouseholdForm(door = "1")).await()!!
            assertNull(vm.recordArrival(ArrivalForm(h, from = "Xi'an", risk = RiskLevel.HIGH)).await())
            assertNotNull(vm.state.value.form(FormKind.ARRIVAL).error(Field.MEMBER))
            val tomorrow = LocalDate.parse(vm.state.value.today).plusDays(1).toString()
            assertNull(vm.recordArrival(ArrivalForm(h, name = "Zhang San", from = "Xi'an", risk = RiskLevel.HIGH, date = tomorrow)).await())
            assertNotNull(vm.state.value.form(FormKind.ARRIVAL).error(Field.DATE))
            val s = vm.state.value
            assertTrue(s.cell!!.members.isEmpty())
            assertTrue(s.day!!.due.isEmpty())
        }
    }
}
