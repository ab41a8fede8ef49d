package org.silin.demo.app

import android.content.Intent
import android.os.Bundle
import android.widget.LinearLayout
import org.silin.VisitKind
import org.silin.demo.LeadState

/** Members under monitoring today: who has been checked, who is abnormal. */
class MonitoringActivity : LeadActivity() {
    private lateinit var root: LinearLayout

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        root = column()
        showScrolling(root)
    }

    override fun render(state: LeadState) {
        root.removeAllViews()
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
            root.button("Health check for ${m.name}") {
                startActivity(
                    Intent(this, VisitActivity::class.java)
                        .putExtra(VisitActivity.EXTRA_MEMBER, m.memberId)
                        .putExtra(VisitActivity.EXTRA_KIND, VisitKind.HEALTH_CHECK.name),
                )
            }
        }
    }
}
