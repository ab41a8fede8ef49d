package org.silin.demo.app

import android.os.Bundle
import android.widget.ArrayAdapter
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.Spinner
import android.widget.TextView
import android.widget.Toast
import org.silin.VisitKind
import org.silin.demo.Field
import org.silin.demo.FormKind
import org.silin.demo.LeadState
import org.silin.demo.LeadViewModel
import org.silin.demo.MemberRow
import org.silin.demo.VisitForm

/** Record a door-knock, health check, call or errand; silin's refusals show on the field. */
class VisitActivity : LeadActivity() {
    companion object {
        const val EXTRA_MEMBER = "member"
        const val EXTRA_KIND = "kind"
    }

    private lateinit var root: LinearLayout
    private lateinit var kind: Spinner
    private lateinit var member: Spinner
    private lateinit var memberError: TextView
    private lateinit var temperature: EditText
    private lateinit var symptoms: EditText
    private lateinit var outcome: EditText
    private lateinit var note: EditText
    private lateinit var formError: TextView
    private var members: List<MemberRow> = emptyList()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        root = column()
        root.label("Kind of visit", bold = true)
        kind = Spinner(this).also { root.addView(it) }
        kind.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, VisitKind.entries.map { pretty(it) })
        intent.getStringExtra(EXTRA_KIND)?.let { k -> kind.setSelection(VisitKind.valueOf(k).ordinal) }
        root.label("Member (required for a health check)", bold = true)
        member = Spinner(this).also { root.addView(it) }
        memberError = root.label("", 14f, color = RED)
        temperature = root.field("Temperature °C, e.g. 36.8", DECIMAL)
        symptoms = root.field("Symptoms (cough, sore throat…)")
        outcome = root.field("Outcome")
        note = root.field("Note")
        formError = root.label("", 14f, color = RED)
        root.button("Save") { save() }
        showScrolling(root)
    }

    override fun onReady(vm: LeadViewModel) = vm.clearForm(FormKind.VISIT)

    override fun render(state: LeadState) {
        val cellMembers = state.cell?.members.orEmpty()
        if (cellMembers.map { it.id } != members.map { it.id }) {
            val keep = selectedMember() ?: intent.getStringExtra(EXTRA_MEMBER)
            members = cellMembers
            member.adapter = ArrayAdapter(
                this,
                android.R.layout.simple_spinner_dropdown_item,
                listOf("— none —") + members.map { it.name },
            )
            members.indexOfFirst { it.id == keep }.takeIf { it >= 0 }?.let { member.setSelection(it + 1) }
        }
        val form = state.form(FormKind.VISIT)
        temperature.error = form.error(Field.TEMPERATURE)
        symptoms.error = form.error(Field.SYMPTOMS)
        outcome.error = form.error(Field.OUTCOME)
        note.error = form.error(Field.NOTE)
        memberError.text = form.error(Field.MEMBER) ?: ""
        formError.text = listOfNotNull(form.formError, form.error(Field.KIND)).joinToString("\n")
    }

    private fun selectedMember(): String? =
        member.selectedItemPosition.takeIf { it > 0 }?.let { members.getOrNull(it - 1)?.id }

    private fun save() {
        val vm = vm ?: return
        val form = VisitForm(
            kind = VisitKind.entries[kind.selectedItemPosition],
            memberId = selectedMember(),
            temperature = temperature.value,
            symptoms = symptoms.value,
            outcome = outcome.value,
            note = note.value,
        )
        vm.recordVisit(form).thenAcceptAsync({ id ->
            if (id != null) {
                Toast.makeText(this, "Visit recorded", Toast.LENGTH_SHORT).show()
                vm.clearForm(FormKind.VISIT)
                finish()
            }
        }, app.main)
    }

    private fun pretty(k: VisitKind) = k.name.lowercase().replace('_', ' ').replaceFirstChar { it.uppercase() }
}
