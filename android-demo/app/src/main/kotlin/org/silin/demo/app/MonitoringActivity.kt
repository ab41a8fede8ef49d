package org.silin.demo.app

import android.content.Intent
import android.os.Bundle
import android.widget.LinearLayout
import org.silin.TaskKind
import org.silin.VisitKind
import org.silin.demo.LeadState
import org.silin.demo.LeadViewModel

/**
 * The lead's day: the health checks due today (done of required, days of
 * monitoring left), the open alerts and reminders, then the members under
 * monitoring, who has been checked and who is abnormal.
 */
class MonitoringActivity : LeadActivity() {
    private lateinit var root: LinearLayout

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        root = column()
        showScrolling(root)
    }

    override fun render(state: LeadState) {
        root.removeAllViews()
        renderDue(state)
        root.label("Under monitoring on ${state.today}", 20f, bold = true)
        if (state.monitoring.isEmpty()) {
            root.label("Nobody in your cell is under monitoring today.")
            return
        }
        val unchecked = state.monitoring.count { !it.checkedToday }
        if (unchecked > 0) root.label("$unchecked not checked yet today", bold = true)
        for (m in state.monitoring) {
            val color = if (m.abnormalToday) RED else null
            root.label(m.name + (m.phone?.let { "  ☎ $it" } ?: ""), 17f, bold = true, color = color)
            root.label("Monitored ${m.since ?: "?"} → ${m.until ?: "?"}", 14f)
            root.label(
                when {
                    m.abnormalToday -> "ABNORMAL today" + (m.lastTemperature?.let { " · $it °C" } ?: "")
                    m.checkedToday -> "Checked today" + (m.lastTemperature?.let { " · $it °C" } ?: "")
                    else -> "Not checked yet today"
                },
                color = color ?: if (m.checkedToday) GREEN else null,
            )
            healthCheckButton(m.memberId, m.name)
        }
    }

    /** The due list and the alerts, as the view-model has them from silin's lead_day. */
    private fun renderDue(state: LeadState) {
        val day = state.day ?: return
        root.label("Checks due today", 20f, bold = true)
        if (day.due.isEmpty()) {
            root.label("No health checks left to make today.", color = GREEN)
        }
        for (c in day.due) {
            root.label(c.label, 17f, bold = true)
            healthCheckButton(c.memberId, c.name)
        }
        if (day.missed.isNotEmpty()) {
            root.label("Missed: " + day.missed.joinToString { "${it.name} ${it.day} (${it.done}/${it.required})" }, color = RED)
        }
        if (day.alerts.isNotEmpty()) {
            root.label("Alerts", 20f, bold = true)
            for (a in day.alerts) {
                root.label(a.title, color = if (a.kind == TaskKind.ALERT) RED else null)
                root.button("Dealt with") { vm?.dismissAlert(a.taskId) }
            }
        }
        if (day.awayNotCalled.isNotEmpty()) {
            root.label("Away, not called for ${LeadViewModel.NOT_CALLED_DAYS} days", 20f, bold = true)
            for (a in day.awayNotCalled) {
                root.label(
                    a.name + (a.awayAt?.let { " · $it" } ?: "") + (a.phone?.let { "  ☎ $it" } ?: "") +
                        (a.lastCalled?.let { " · last called $it" } ?: " · never called"),
                )
            }
        }
    }

    private fun healthCheckButton(memberId: String, name: String) {
        root.button("Health check for $name") {
            startActivity(
                Intent(this, VisitActivity::class.java)
                    .putExtra(VisitActivity.EXTRA_MEMBER, memberId)
                    .putExtra(VisitActivity.EXTRA_KIND, VisitKind.HEALTH_CHECK.name),
            )
        }
    }
}
