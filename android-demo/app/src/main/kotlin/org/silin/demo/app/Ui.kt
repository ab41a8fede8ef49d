package org.silin.demo.app

import android.app.Activity
import android.content.Context
import android.graphics.Color
import android.graphics.Typeface
import android.text.InputType
import android.view.View
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import org.silin.demo.LeadState
import org.silin.demo.LeadViewModel

/** Small helpers to build plain Android views in code: no layouts, no libraries. */
internal val RED = Color.rgb(0xC6, 0x28, 0x28)
internal val GREEN = Color.rgb(0x2E, 0x7D, 0x32)

internal fun Context.dp(n: Int): Int = (n * resources.displayMetrics.density).toInt()

internal fun Context.column(): LinearLayout = LinearLayout(this).apply {
    orientation = LinearLayout.VERTICAL
    setPadding(dp(16), dp(12), dp(16), dp(12))
}

internal fun Activity.showScrolling(content: View) {
    setContentView(ScrollView(this).apply { addView(content) })
}

internal fun LinearLayout.label(
    text: CharSequence,
    size: Float = 16f,
    bold: Boolean = false,
    color: Int? = null,
): TextView = TextView(context).also {
    it.text = text
    it.textSize = size
    if (bold) it.setTypeface(it.typeface, Typeface.BOLD)
    color?.let(it::setTextColor)
    it.setPadding(0, context.dp(4), 0, context.dp(4))
    addView(it)
}

internal fun LinearLayout.button(text: String, onClick: () -> Unit): Button = Button(context).also {
    it.text = text
    it.setOnClickListener { onClick() }
    addView(it)
}

internal fun LinearLayout.field(
    hint: String,
    inputType: Int = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_CAP_WORDS,
    text: String = "",
): EditText = EditText(context).also {
    it.hint = hint
    it.inputType = inputType
    it.setText(text)
    addView(it)
}

internal const val DECIMAL = InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL
internal const val NUMBER = InputType.TYPE_CLASS_NUMBER

internal val EditText.value: String get() = text.toString()

/**
 * An Activity over the lead's view-model: once the store is open it calls
 * [onReady], then [render] with each new state while the Activity is started.
 */
abstract class LeadActivity : Activity() {
    protected val app: SilinApp get() = application as SilinApp
    protected var vm: LeadViewModel? = null
    private var watching: AutoCloseable? = null

    protected open fun onReady(vm: LeadViewModel) {}
    protected abstract fun render(state: LeadState)

    /** No lead name yet: only the first screen asks for it. */
    protected open fun onNoLead() = finish()

    override fun onStart() {
        super.onStart()
        val lead = app.leadName ?: return onNoLead()
        app.whenOpen(lead) { opened ->
            if (isFinishing || isDestroyed) return@whenOpen
            when (opened) {
                is SilinApp.Opened.Ready -> {
                    if (vm == null) {
                        vm = opened.vm
                        onReady(opened.vm)
                    }
                    watching?.close()
                    watching = opened.vm.state.observe { if (!isDestroyed) render(it) }
                }
                is SilinApp.Opened.Failed -> showScrolling(
                    column().apply {
                        label("The register cannot be opened", 20f, bold = true)
                        label(opened.message, color = RED)
                    },
                )
            }
        }
    }

    override fun onStop() {
        watching?.close()
        watching = null
        super.onStop()
    }
}
