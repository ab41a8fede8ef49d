package org.silin.demo.app

import android.os.Bundle
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import android.widget.Toast
import org.silin.demo.Field
import org.silin.demo.FormKind
import org.silin.demo.LeadState
import org.silin.demo.LeadViewModel
import org.silin.demo.ReportForm

/** Today's report, prefilled from the register; a quiet day is a zero report. */
class ReportActivity : LeadActivity() {
    private lateinit var status: TextView
    private lateinit var counted: TextView
    private lateinit var arrivals: EditText
    private lateinit var abnormal: EditText
    private lateinit var note: EditText
    private lateinit var formError: TextView
    private var prefilled = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val root: LinearLayout = column()
        status = root.label("", 18f, bold = true)
        root.label("Arrivals today")
        arrivals = root.field("0", NUMBER)
        root.label("Abnormal today (fever or symptoms)")
        abnormal = root.field("0", NUMBER)
        counted = root.label("", 14f)
        note = root.field("Note (optional)")
        formError = root.label("", 14f, color = RED)
        root.button("File today's report") { file() }
        showScrolling(root)
    }

    override fun onReady(vm: LeadViewModel) = vm.clearForm(FormKind.REPORT)

    override fun render(state: LeadState) {
        val report = state.report ?: run {
            status.text = "Create your cell first."
            return
        }
        if (!prefilled) {
            prefilled = true
            arrivals.setText(report.draft.arrivals.toString())
            abnormal.setText(report.draft.abnormal.toString())
        }
        val filed = report.filed
        status.text = when {
            filed != null -> "Filed by ${filed.by} at ${filed.at}" + if (filed.zero) " — zero report" else ""
            report.draft.zero -> "Not filed yet. Nothing to report today: file a zero report."
            else -> "Not filed yet."
        }
        status.setTextColor(if (filed != null) GREEN else RED)
        counted.text = "Counted from the register: ${report.draft.underMonitoring} under monitoring, " +
            "${report.draft.errands} errand(s) today."
        val form = state.form(FormKind.REPORT)
        arrivals.error = form.error(Field.ARRIVALS)
        abnormal.error = form.error(Field.ABNORMAL)
        note.error = form.error(Field.NOTE)
        formError.text = form.formError ?: ""
    }

    private fun file() {
        val vm = vm ?: return
        vm.fileReport(ReportForm(arrivals.value, abnormal.value, note.value)).thenAcceptAsync({ filed ->
            if (filed) Toast.makeText(this, "Report filed", Toast.LENGTH_SHORT).show()
        }, app.main)
    }
}
