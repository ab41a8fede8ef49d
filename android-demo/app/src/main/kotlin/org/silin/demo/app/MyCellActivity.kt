package org.silin.demo.app

import android.app.AlertDialog
import android.content.Intent
import android.os.Bundle
import android.text.InputType
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.Toast
import org.silin.demo.CellForm
import org.silin.demo.Field
import org.silin.demo.FormKind
import org.silin.demo.FormState
import org.silin.demo.HouseholdForm
import org.silin.demo.LeadState
import org.silin.demo.MemberForm
import org.silin.demo.MemberRow
import java.util.concurrent.CompletableFuture

/** "My cell": households and members, today's report status, and the way to every other screen. */
class MyCellActivity : LeadActivity() {
    private lateinit var root: LinearLayout

    // Made once and re-added on each render, so typed text survives updates.
    private val cellName by lazy { column().field("Cell name, e.g. Building 7 east").also { (it.parent as LinearLayout).removeView(it) } }
    private val cellRegion by lazy {
        column().field("county/township/village/group", InputType.TYPE_CLASS_TEXT).also { (it.parent as LinearLayout).removeView(it) }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        root = column()
        showScrolling(root)
        root.label("Opening the register…")
    }

    /** First start: ask the lead's name, which goes on every visit and report. */
    override fun onNoLead() {
        root.removeAllViews()
        root.label("Welcome", 22f, bold = true)
        root.label("Your name, as your cell's households know you:")
        val name = root.field("e.g. Wang Fang")
        root.button("Continue") {
            if (name.value.isBlank()) {
                name.error = "Enter your name"
            } else {
                app.leadName = name.value.trim()
                recreate()
            }
        }
    }

    override fun render(state: LeadState) {
        root.removeAllViews()
        state.message?.let { message ->
            root.label(message, color = RED)
            root.button("OK") { vm?.dismissMessage() }
        }
        if (state.loading) {
            root.label("Loading…")
            return
        }
        val cell = state.cell
        if (cell == null) {
            renderNoCell(state)
            return
        }
        root.label(cell.name, 22f, bold = true)
        root.label("${cell.regionPath}  ·  lead: ${cell.lead ?: "—"}", 14f)
        state.report?.let { report ->
            val filed = report.filed
            if (filed != null) {
                root.label("Today's report is filed" + if (filed.zero) " (zero report)." else ".", color = GREEN)
            } else {
                root.label("Today's report is not filed yet.", bold = true, color = RED)
            }
        }
        if (cell.conflicts > 0) {
            root.label("${cell.conflicts} field(s) were changed on two phones at once; both values are kept.", 14f)
        }
        val abnormal = state.monitoring.count { it.abnormalToday }
        root.button("Under monitoring (${state.monitoring.size}${if (abnormal > 0) ", $abnormal abnormal" else ""})") {
            startActivity(Intent(this, MonitoringActivity::class.java))
        }
        root.button("Record a visit") { startActivity(Intent(this, VisitActivity::class.java)) }
        root.button("Today's report") { startActivity(Intent(this, ReportActivity::class.java)) }
        root.button("Sync") { startActivity(Intent(this, SyncActivity::class.java)) }

        root.label("Households", 18f, bold = true)
        for (household in cell.households) {
            root.label(household.label + (household.phone?.let { "  ☎ $it" } ?: ""), bold = true)
            household.members.forEach { root.label("   " + describe(it), 15f, color = if (it.abnormalToday) RED else null) }
            root.button("Add a member to ${household.label}") { addMember(household.id) }
        }
        root.button("Add a household") { addHousehold() }
        root.label("${cell.visitsToday.size} visit(s) today", 14f)
    }

    private fun describe(m: MemberRow): String = buildString {
        append(m.name)
        m.birthYear?.let { append(" ($it)") }
        if (m.underMonitoring) append(" · monitored until ${m.monitoringUntil}")
        if (m.abnormalToday) append(" · ABNORMAL today")
        if (m.vulnerable.isNotEmpty()) append(" · " + m.vulnerable.joinToString { it.name.lowercase() })
    }

    private fun renderNoCell(state: LeadState) {
        if (state.cells.isNotEmpty()) {
            root.label("Which cell is yours?", 20f, bold = true)
            state.cells.forEach { c -> root.button("${c.name} — ${c.regionPath}") { vm?.chooseCell(c.id) } }
            root.label("Or create a new one:", bold = true)
        } else {
            root.label("Create your cell", 20f, bold = true)
        }
        val form = state.form(FormKind.CELL)
        root.addView(cellName)
        root.addView(cellRegion)
        cellName.error = form.error(Field.NAME)
        cellRegion.error = form.error(Field.REGION_PATH)
        form.formError?.let { root.label(it, color = RED) }
        root.button(if (form.submitting) "Creating…" else "Create my cell") {
            vm?.createCell(CellForm(cellName.value, cellRegion.value))
        }
    }

    private fun addHousehold() {
        val vm = vm ?: return
        val box = column()
        val door = box.field("Door, e.g. 3", InputType.TYPE_CLASS_TEXT)
        val address = box.field("Address")
        val phone = box.field("Phone", InputType.TYPE_CLASS_PHONE)
        formDialog("Add a household", box, FormKind.HOUSEHOLD, mapOf(Field.DOOR to door, Field.ADDRESS to address, Field.PHONE to phone)) {
            vm.addHousehold(HouseholdForm(door.value, address.value, phone.value))
        }
    }

    private fun addMember(householdId: String) {
        val vm = vm ?: return
        val box = column()
        val name = box.field("Name")
        val year = box.field("Birth year, e.g. 1950", NUMBER)
        val idNumber = box.field("Resident ID number (optional)", InputType.TYPE_CLASS_TEXT)
        val phone = box.field("Phone", InputType.TYPE_CLASS_PHONE)
        val relation = box.field("Relation, e.g. mother")
        val fields = mapOf(
            Field.NAME to name, Field.BIRTH_YEAR to year, Field.ID_NUMBER to idNumber,
            Field.PHONE to phone, Field.RELATION to relation,
        )
        formDialog("Add a member", box, FormKind.MEMBER, fields) {
            vm.addMember(MemberForm(householdId, name.value, birthYear = year.value, idNumber = idNumber.value, phone = phone.value, relation = relation.value))
        }
    }

    /** A dialog that stays open, showing each field's error, until the write succeeds. */
    private fun formDialog(
        title: String,
        box: LinearLayout,
        kind: FormKind,
        fields: Map<Field, EditText>,
        submit: () -> CompletableFuture<String?>,
    ) {
        vm?.clearForm(kind)
        val error = box.label("", 14f, color = RED)
        val dialog = AlertDialog.Builder(this)
            .setTitle(title)
            .setView(box)
            .setPositiveButton("Save", null)
            .setNegativeButton("Cancel", null)
            .create()
        dialog.setOnShowListener {
            dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener {
                submit().thenAcceptAsync({ saved ->
                    if (saved != null) {
                        dialog.dismiss()
                        Toast.makeText(this, "Saved", Toast.LENGTH_SHORT).show()
                    } else {
                        val form: FormState = vm?.state?.value?.form(kind) ?: FormState()
                        fields.forEach { (field, view) -> view.error = form.error(field) }
                        error.text = form.formError ?: ""
                    }
                }, app.main)
            }
        }
        dialog.show()
    }
}
