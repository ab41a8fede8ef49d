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

/** A lead householder's whole day, through the Kotlin API only. */
class LeadHouseholderDayTest {

    @TempDir
    lateinit var dir: Path

    @Test
    fun `a lead householder's day is recorded, queried, reported and rolled up`() {
        val store = openStore(dir)
        try {
            // Two cells in one village, a third in another township: the
            // rollup has something to group.
            val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang")
            val sibling = store.createCell("Fifth cell", "Liangdang/Zhangjia/Hongqi/Group 4", null)
            val away = store.createCell("First cell", "Liangdang/Yunping/Dahe/Group 1", "Li Qiang")

            assertEquals(
                CellInfo(cell, "Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang"),
                store.cells(listOf("Liangdang/Zhangjia/Hongqi/Group 3")).single(),
            )
            assertEquals(3, store.cells(emptyList()).size)
            assertEquals(
                setOf(cell, sibling),
                store.cells(listOf("Liangdang/Zhangjia")).map { it.id }.toSet(),
            )

            // Households and members.
            val wang = store.addHousehold(cell, NewHousehold(address = "12 East Lane", door = "3-1", phone = "13800138000"))
            val zhao = store.addHousehold(cell, NewHousehold(address = "14 East Lane", door = "3-2"))
            val fang = store.addMember(
                wang,
                NewMember(
                    name = "Wang Fang", sex = Sex.FEMALE, birthYear = 1980L,
                    phone = "139 1234 5678", relation = "head", residence = Residence.RESIDENT,
                ),
            )
            val idNumber = residentId("19990412", "013")
            val lei = store.addMember(
                wang,
                NewMember(name = "Wang Lei", idNumber = idNumber, relation = "son", residence = Residence.AWAY),
            )
            val grandma = store.addMember(
                zhao,
                NewMember(
                    name = "Zhao Xiuying", sex = Sex.FEMALE, birthYear = 1938L,
                    vulnerable = listOf(Vulnerability.ELDERLY, Vulnerability.ALONE),
                ),
            )

            // The card decides birth year and sex; the phone is normalised.
            val leiRead = store.member(lei)
            assertEquals(1999L, leiRead.birthYear)
            assertEquals(Sex.MALE, leiRead.sex)
            assertEquals(idNumber, leiRead.idNumber)
            assertEquals("13912345678", store.member(fang).phone)

            // Wang Lei comes back from a risk area: home monitoring for a week.
            store.editMember(
                lei,
                listOf(
                    MemberEdit.SetResidence(Residence.RETURNED),
                    MemberEdit.SetArrivalFrom("Riverside district"),
                    MemberEdit.SetArrivalRiskArea(true),
                    MemberEdit.SetArrivalDate("2026-11-27"),
                    MemberEdit.SetMonitoringSince("2026-11-27"),
                    MemberEdit.SetMonitoringUntil("2026-12-03"),
                    MemberEdit.SetTestDate("2026-11-28"),
                    MemberEdit.SetTestResult(TestResult.NEGATIVE),
                ),
            )
            val returned = store.member(lei)
            assertEquals(Residence.RETURNED, returned.residence)
            assertTrue(returned.arrivalRiskArea)
            assertEquals("Riverside district", returned.arrivalFrom)
            assertEquals("2026-11-27", returned.arrivalDate)
            assertEquals("2026-11-27", returned.monitoringSince)
            assertEquals("2026-12-03", returned.monitoringUntil)
            assertEquals(TestResult.NEGATIVE, returned.testResult)

            val grandmaRead = store.member(grandma)
            assertEquals(setOf(Vulnerability.ELDERLY, Vulnerability.ALONE), grandmaRead.vulnerable.toSet())

            // Morning door-knock round, then health checks.
            val knock1 = store.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "Wang Fang", householdId = wang, at = at("08:00"), outcome = "all home"))
            val knock2 = store.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "Wang Fang", householdId = zhao, at = at("08:10"), outcome = "all home"))
            val checkLei = store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Wang Fang", memberId = lei, at = at("08:20"), temperature = 37.8, symptoms = "cough"))
            val checkGrandma = store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Wang Fang", memberId = grandma, at = at("08:30"), temperature = 36.5))
            val checkFang = store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Wang Fang", memberId = fang, at = at("08:35"), temperature = 36.64))

            // An errand for the elderly neighbour, carried out and closed.
            val task = store.addTask(cell, NewTask(title = "Buy medicine for Zhao Xiuying", householdId = zhao, memberId = grandma, due = DAY))
            val errand = store.recordVisit(cell, NewVisit(kind = VisitKind.ERRAND, by = "Wang Fang", householdId = zhao, memberId = grandma, at = at("10:00"), outcome = "medicine delivered", taskId = task))
            store.setTaskStatus(cell, task, TaskStatus.DONE)

            // What the cell now holds.
            val view = store.cell(cell)
            assertEquals("Fourth cell", view.cell.name)
            assertEquals(setOf(wang, zhao), view.households.map { it.id }.toSet())
            val wangHousehold = view.households.single { it.id == wang }
            assertEquals("12 East Lane", wangHousehold.address)
            assertEquals("3-1", wangHousehold.door)
            assertEquals(setOf(fang, lei), wangHousehold.members.map { it.id }.toSet())
            assertEquals(listOf(grandma), view.households.single { it.id == zhao }.members.map { it.id })

            assertEquals(setOf(knock1, knock2, checkLei, checkGrandma, checkFang, errand), view.visits.map { it.id }.toSet())
            val fever = view.visits.single { it.id == checkLei }
            assertEquals(VisitKind.HEALTH_CHECK, fever.kind)
            assertEquals(37.8, fever.temperature!!, 1e-9)
            assertEquals(wang, fever.householdId, "the member implies the household")
            assertTrue(fever.abnormal, "37.8 °C is a fever")
            assertFalse(view.visits.single { it.id == checkGrandma }.abnormal)
            assertEquals(36.6, view.visits.single { it.id == checkFang }.temperature!!, 1e-9, "rounded to 0.1 °C")
            assertEquals(at("08:20"), fever.at)
            val errandVisit = view.visits.single { it.id == errand }
            assertEquals(task, errandVisit.taskId)
            assertEquals("medicine delivered", errandVisit.outcome)

            // The fever check raised an alert task of its own.
            val alert = view.tasks.single { it.kind == TaskKind.ALERT }
            assertEquals(lei, alert.memberId)
            assertEquals("abnormal:$checkLei", alert.source)
            assertEquals(TaskStatus.OPEN, alert.status)
            val taskRead = view.tasks.single { it.kind == TaskKind.LIST }
            assertEquals(task, taskRead.id)
            assertEquals(TaskStatus.DONE, taskRead.status)
            assertEquals(DAY, taskRead.due)
            assertEquals(grandma, taskRead.memberId)
            assertTrue(view.conflicts.isEmpty())
            assertTrue(store.conflicts(cell).isEmpty())

            // Queries over every cell held.
            val monitored = store.underMonitoring(DAY)
            assertEquals(listOf(lei), monitored.map { it.memberId })
            assertEquals(cell, monitored.single().cellId)
            assertEquals(wang, monitored.single().householdId)
            assertEquals("2026-12-03", monitored.single().monitoringUntil)
            assertEquals(Residence.RETURNED, monitored.single().residence)
            assertTrue(store.underMonitoring("2026-12-04").isEmpty(), "monitoring is over after the 3rd")
            assertEquals(listOf(lei), store.monitoringEnds("2026-12-03").map { it.memberId })

            val vulnerable = store.vulnerableMembers()
            assertEquals(listOf(grandma), vulnerable.map { it.memberId })
            assertEquals(setOf(Vulnerability.ELDERLY, Vulnerability.ALONE), vulnerable.single().vulnerable.toSet())

            val today = store.visitsOn(DAY)
            assertEquals(6, today.size)
            assertEquals(setOf(checkLei), today.filter { it.abnormal }.map { it.visitId }.toSet())
            assertEquals(3, today.count { it.kind == VisitKind.HEALTH_CHECK })
            assertEquals(1, today.count { it.kind == VisitKind.ERRAND })
            assertTrue(today.all { it.cellId == cell && it.day == DAY })
            assertTrue(store.visitsOn(NEXT_DAY).isEmpty())

            assertEquals(setOf(cell, sibling, away), store.cellsMissingReport(DAY).map { it.id }.toSet())

            // The daily report: one arrival, one abnormal; monitoring and
            // errands counted from the register.
            store.submitReport(cell, NewReport(date = DAY, by = "Wang Fang", arrivals = 1L, abnormal = 1L, note = "Wang Lei has a cough", at = at("18:00")))
            // The sibling cell files a zero report; the third cell does not.
            store.submitReport(sibling, NewReport(date = DAY, by = "Chen Jie", arrivals = 0L, abnormal = 0L, at = at("18:30")))

            val report = store.cell(cell).reports.single()
            assertEquals(DAY, report.date)
            assertEquals("Wang Fang", report.by)
            assertEquals(1L, report.arrivals)
            assertEquals(1L, report.abnormal)
            assertEquals(1L, report.underMonitoring, "counted from the register")
            assertEquals(1L, report.errands, "counted from the day's errand visits")
            assertEquals("Wang Lei has a cough", report.note)
            assertFalse(report.zero)
            assertTrue(store.cell(sibling).reports.single().zero)

            assertEquals(listOf(away), store.cellsMissingReport(DAY).map { it.id })
            assertEquals(3, store.cellsMissingReport(NEXT_DAY).size)

            // Rollup at each level.
            val county = store.rollup(DAY, Level.COUNTY)
            assertEquals(listOf(RollupRow("Liangdang", 3, 2, 1, 1, 1, 1, 1)), county)

            val townships = store.rollup(DAY, Level.TOWNSHIP)
            assertEquals(
                listOf(
                    RollupRow("Liangdang/Yunping", 1, 0, 1, 0, 0, 0, 0),
                    RollupRow("Liangdang/Zhangjia", 2, 2, 0, 1, 1, 1, 1),
                ),
                townships,
            )
            val villages = store.rollup(DAY, Level.VILLAGE)
            assertEquals(listOf("Liangdang/Yunping/Dahe", "Liangdang/Zhangjia/Hongqi"), villages.map { it.path })
            assertEquals(2L, villages[1].reported)

            val groups = store.rollup(DAY, Level.GROUP)
            assertEquals(3, groups.size)
            val group3 = groups.single { it.path == "Liangdang/Zhangjia/Hongqi/Group 3" }
            assertEquals(RollupRow("Liangdang/Zhangjia/Hongqi/Group 3", 1, 1, 0, 0, 1, 1, 1), group3)
            val group4 = groups.single { it.path == "Liangdang/Zhangjia/Hongqi/Group 4" }
            assertEquals(1L, group4.zero)
            assertEquals(0L, groups.single { it.path == "Liangdang/Yunping/Dahe/Group 1" }.reported)

            // Renaming and the lead change read back too.
            store.renameCell(away, "First cell (east)")
            store.setLead(away, "Li Na")
            assertEquals(CellInfo(away, "First cell (east)", "Liangdang/Yunping/Dahe/Group 1", "Li Na"), store.cell(away).cell)

            // The device as apps show it.
            store.setDeviceName("Wang Fang's phone")
            val me = store.identity()
            assertEquals("Wang Fang's phone", me.deviceName)
            assertFalse(me.enrolled)
            assertNull(me.role)
            assertTrue(me.deviceId.isNotBlank())
        } finally {
            store.closeStore()
            store.destroy()
        }
    }

    // A lead's certificate scope is its cell id, and an office's is "*":
    // cells(identity().scope) must list what the device may see.
    @Test
    fun `cells(scope) lists a cell named by id, and every cell for the scope star`() {
        openStore(dir).use { store ->
            val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
            store.createCell("Fifth cell", "Liangdang/Zhangjia/Hongqi/Group 4", null)
            assertEquals(listOf(cell), store.cells(listOf(cell)).map { it.id })
            assertEquals(2, store.cells(listOf("*")).size)
        }
    }

    @Test
    fun `top-level functions answer`() {
        assertTrue(libraryVersion().matches(Regex("""\d+\.\d+\.\d+.*""")))
        assertTrue(memberFields().containsAll(listOf("name", "phone", "id_number", "monitoring_until", "vulnerable")))
        assertTrue(today().matches(Regex("""\d{4}-\d{2}-\d{2}""")))
        val id = residentId("19491231", "002")
        assertEquals(id, checkResidentId(id.lowercase()))
        assertNotNull(checkResidentId(residentId("20000229", "015")))
    }

    @Test
    fun `a door-knock round is recorded whole or not at all`() {
        openStore(dir).use { store ->
            val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang")
            val homes = (1..3).map { store.addHousehold(cell, NewHousehold(door = "No. $it")) }
            fun knock(h: String, note: String) =
                NewVisit(kind = VisitKind.DOOR_KNOCK, by = "Wang Fang", householdId = h, note = note, at = at("08:30"))

            val noMember = NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Wang Fang", at = at("08:31"))
            val e = assertThrows(StoreException.Invalid::class.java) {
                store.recordVisits(cell, listOf(knock(homes[0], "home"), noMember, knock(homes[2], "home")))
            }
            assertEquals("member", e.field)
            assertTrue(store.cell(cell).visits.isEmpty())

            val ids = store.recordVisits(cell, homes.mapIndexed { i, h -> knock(h, "house ${i + 1}") })
            val byId = store.cell(cell).visits.associateBy { it.id }
            assertEquals(homes, ids.map { byId.getValue(it).householdId })
            assertEquals(listOf("house 1", "house 2", "house 3"), ids.map { byId.getValue(it).note })
        }
    }
}
