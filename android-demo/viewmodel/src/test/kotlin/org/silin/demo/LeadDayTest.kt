package org.silin.demo

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import org.silin.Residence
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

            // Li Lei came back today: under monitoring for 14 days.
            val today = s.today
            val until = LocalDate.parse(today).plusDays(14).toString()
            assertEquals(lei, vm.recordArrival(ArrivalForm(lei, "Wenzhou", today, riskArea = true, monitorUntil = until)).await())
            s = vm.state.value
            assertEquals(listOf(lei), s.monitoring.map { it.memberId })
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
}
