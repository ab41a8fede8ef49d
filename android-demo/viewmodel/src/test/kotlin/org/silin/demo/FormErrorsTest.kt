package org.silin.demo

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import org.silin.VisitKind
import java.nio.file.Path

/** What silin refuses lands on the form field it names; nothing is written. */
class FormErrorsTest {
    @TempDir
    lateinit var dir: Path

    private fun withCell(block: (Phone, String, String) -> Unit) {
        Phone(dir, "forms", "Chen Jie", 4).use { phone ->
            phone.vm.start().await()
            phone.vm.createCell(CellForm("Building 5", REGION)).await()!!
            val h = phone.vm.addHousehold(HouseholdForm(door = "2")).await()!!
            val m = phone.vm.addMember(MemberForm(h, "Chen Jie")).await()!!
            block(phone, h, m)
        }
    }

    @Test
    fun `a temperature out of range is an error on the temperature field and nothing is written`() = withCell { phone, _, m ->
        val vm = phone.vm
        val before = vm.state.value
        assertNull(vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = m, temperature = "73.5")).await())
        val s = vm.state.value
        val form = s.form(FormKind.VISIT)
        assertFalse(form.submitting)
        assertEquals(setOf(Field.TEMPERATURE), form.fieldErrors.keys)
        assertTrue(form.error(Field.TEMPERATURE)!!.contains("°C"), form.error(Field.TEMPERATURE))
        assertNull(form.formError)
        assertTrue(s.cell!!.visitsToday.isEmpty())
        assertTrue(phone.store.visitsOn(s.today).isEmpty(), "nothing was written")
        assertEquals(before.cell, s.cell)

        // Corrected, it goes through and the error clears.
        assertNotNull(vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = m, temperature = "37.5")).await())
        assertFalse(vm.state.value.form(FormKind.VISIT).hasErrors)
        assertEquals(1, phone.store.visitsOn(s.today).size)
    }

    @Test
    fun `a temperature that is not a number is caught before silin`() = withCell { phone, _, m ->
        assertNull(phone.vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = m, temperature = "hot")).await())
        val form = phone.vm.state.value.form(FormKind.VISIT)
        assertEquals(setOf(Field.TEMPERATURE), form.fieldErrors.keys)
        assertTrue(phone.store.visitsOn(phone.vm.state.value.today).isEmpty())
    }

    @Test
    fun `a health check without a member is an error on the member field`() = withCell { phone, h, _ ->
        assertNull(phone.vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, householdId = h, temperature = "36.5")).await())
        val form = phone.vm.state.value.form(FormKind.VISIT)
        assertEquals(setOf(Field.MEMBER), form.fieldErrors.keys)
        assertTrue(phone.store.visitsOn(phone.vm.state.value.today).isEmpty())
    }

    @Test
    fun `member and report forms map their fields too`() = withCell { phone, h, _ ->
        val vm = phone.vm
        val members = vm.state.value.cell!!.members.size
        assertNull(vm.addMember(MemberForm(h, "Qian Yu", idNumber = "11010519491231002")).await())
        assertEquals(setOf(Field.ID_NUMBER), vm.state.value.form(FormKind.MEMBER).fieldErrors.keys)
        assertNull(vm.addMember(MemberForm(h, "Qian Yu", birthYear = "nineteen")).await())
        assertEquals(setOf(Field.BIRTH_YEAR), vm.state.value.form(FormKind.MEMBER).fieldErrors.keys)
        assertEquals(members, vm.state.value.cell!!.members.size)

        assertFalse(vm.fileReport(ReportForm(arrivals = "-1", abnormal = "0")).await())
        assertEquals(setOf(Field.ARRIVALS), vm.state.value.form(FormKind.REPORT).fieldErrors.keys)
        assertTrue(vm.state.value.report!!.missing)

        assertNull(vm.createCell(CellForm("Another", "only/two")).await())
        assertEquals(setOf(Field.REGION_PATH), vm.state.value.form(FormKind.CELL).fieldErrors.keys)
        assertEquals(1, phone.store.cells(emptyList()).size)
    }

    @Test
    fun `api field names map to form fields`() {
        assertEquals(Field.MEMBER, Field.fromApi("member_id"))
        assertEquals(Field.MEMBER, Field.fromApi("member"))
        assertEquals(Field.ID_NUMBER, Field.fromApi("id_number"))
        assertEquals(Field.REGION_PATH, Field.fromApi("path"))
        assertEquals(Field.TEMPERATURE, Field.fromApi("temperature"))
        assertNull(Field.fromApi("vaccination_doses"))
    }
}
