package org.silin.demo

import org.silin.CellObserver
import org.silin.CellView
import org.silin.LeadDay
import org.silin.NewArrival
import org.silin.NewHousehold
import org.silin.NewMember
import org.silin.NewReport
import org.silin.NewVisit
import org.silin.Store
import org.silin.StoreException
import org.silin.SyncStats
import org.silin.SyncStatus
import org.silin.SyncStatusObserver
import org.silin.TaskKind
import org.silin.TaskStatus
import org.silin.VisitKind
import org.silin.VisitWriter
import org.silin.visitWriter
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The lead householder's view of their cell, over one silin [Store].
 *
 * Every store call runs on [worker] (give it a single-thread executor: the
 * calls block, and one thread keeps them in order); state is published
 * through [state], whose listeners run on [uiExecutor] (on Android, the main
 * thread). Actions return futures that complete once the state shows their
 * outcome; the UI may ignore them. Changes made elsewhere (a sync, another
 * screen) reach [state] through a silin [CellObserver].
 *
 * The view-model does not own the store: the app opens and closes it.
 */
class LeadViewModel(
    private val store: Store,
    private val worker: Executor,
    /** Who records visits and files reports, as the cell knows them. */
    private val leadName: String,
    uiExecutor: Executor = Executor { it.run() },
    /** The cell chosen earlier (the app keeps it); null picks the lead's own or the only one. */
    initialCellId: String? = null,
    /** Today's date, "YYYY-MM-DD"; silin's device date by default. */
    private val clock: () -> String = { org.silin.today() },
) : AutoCloseable {
    private val mutableState = MutableObservable(LeadState(today = clock()), uiExecutor)

    /** What the screens show. */
    val state: Observable<LeadState> = mutableState

    @Volatile
    private var cellId: String? = initialCellId

    /** Told when "my cell" is chosen or created, so the app can keep its id. */
    @Volatile
    var onCellChosen: ((String) -> Unit)? = null

    private val closed = AtomicBoolean(false)

    /** Visits go through one plain native call each (the lead's busiest write). */
    private val visitWriter = lazy { store.visitWriter() }
    private val visits: VisitWriter by visitWriter
    private val refreshQueued = AtomicBoolean(false)
    private var subscription: ULong? = null

    private val observer = object : CellObserver {
        // Called on whichever thread committed the change: hand over to the worker.
        override fun cellsChanged(cellIds: List<String>) {
            val mine = cellId
            if (mine == null || mine in cellIds) refresh()
        }
    }

    private var statusSubscription: ULong? = null

    private val statusObserver = object : SyncStatusObserver {
        // Called on the thread running the sync, at each step.
        override fun statusChanged(status: SyncStatus) {
            if (!closed.get()) mutableState.update { it.copy(sync = it.sync.copy(status = status)) }
        }
    }

    /**
     * Subscribes to changes, raises the day's alerts (missed checks, a
     * report not filed by evening) and loads the first state.
     */
    fun start(): CompletableFuture<LeadState> = run {
        if (subscription == null) subscription = store.subscribe(observer)
        if (statusSubscription == null) {
            statusSubscription = store.subscribeSyncStatus(statusObserver)
            val now = store.syncStatus()
            mutableState.update { it.copy(sync = it.sync.copy(status = now)) }
        }
        // Load first: it chooses "my cell" on a phone opened afresh.
        val first = load()
        if (raiseAlertsQuietly()) load() else first
    }

    /**
     * Raises what the day calls for in my cell, once each: an alert task
     * for every day someone under monitoring missed a check, and a reminder
     * when today's report is not in by evening. [start] and each sync do it;
     * call it again when the app comes back to the foreground.
     */
    fun raiseAlerts(): CompletableFuture<LeadState> = run {
        if (raiseAlertsQuietly()) load() else state.value
    }

    /**
     * Stops a hub sync in progress at its next round boundary (the "Stop"
     * button): what it brought so far is kept; it ends with an error saying
     * it was cancelled.
     */
    fun cancelSync() {
        store.cancelSync()
    }

    /** Reloads everything. Calls arriving while one is queued are folded into it. */
    fun refresh(): CompletableFuture<LeadState> {
        if (closed.get()) return CompletableFuture.completedFuture(state.value)
        if (!refreshQueued.compareAndSet(false, true)) return CompletableFuture.completedFuture(state.value)
        return run {
            refreshQueued.set(false)
            load()
        }
    }

    // ---- my cell ----------------------------------------------------------

    /** Creates a cell with this lead and makes it "my cell". Resolves to its id, or null if refused. */
    fun createCell(form: CellForm): CompletableFuture<String?> =
        submit(FormKind.CELL) {
            val lead = Parse.blankToNull(form.lead) ?: leadName
            val id = store.createCell(form.name, form.regionPath, lead)
            choose(id)
            id
        }

    /** Makes [id] "my cell". */
    fun chooseCell(id: String): CompletableFuture<LeadState> = run {
        choose(id)
        load()
    }

    fun addHousehold(form: HouseholdForm): CompletableFuture<String?> {
        val cell = cellId ?: return noCell(FormKind.HOUSEHOLD)
        return submit(FormKind.HOUSEHOLD) {
            store.addHousehold(
                cell,
                NewHousehold(
                    address = Parse.blankToNull(form.address),
                    door = Parse.blankToNull(form.door),
                    phone = Parse.blankToNull(form.phone),
                ),
            )
        }
    }

    fun addMember(form: MemberForm): CompletableFuture<String?> {
        val year = Parse.whole(form.birthYear)
        val local = buildMap {
            year.exceptionOrNull()?.let { put(Field.BIRTH_YEAR, it.message!!) }
        }
        return submit(FormKind.MEMBER, local) {
            store.addMember(
                form.householdId,
                NewMember(
                    name = form.name,
                    sex = form.sex,
                    birthYear = year.getOrNull(),
                    idNumber = Parse.blankToNull(form.idNumber),
                    phone = Parse.blankToNull(form.phone),
                    relation = Parse.blankToNull(form.relation),
                    vulnerable = form.vulnerable,
                ),
            )
        }
    }

    /**
     * Records an arrival at the door in one step (see [ArrivalForm]); the
     * office's policy sets the monitoring and the checks due. Resolves to
     * the member's id (new or existing), or null if refused.
     */
    fun recordArrival(form: ArrivalForm): CompletableFuture<String?> {
        val name = form.name.trim()
        return submit(FormKind.ARRIVAL) {
            store.recordArrival(
                NewArrival(
                    householdId = form.householdId,
                    memberId = form.memberId,
                    newMember = if (form.memberId == null && name.isNotEmpty()) {
                        NewMember(name = name, phone = Parse.blankToNull(form.phone))
                    } else {
                        null
                    },
                    kind = form.kind,
                    from = form.from,
                    risk = form.risk,
                    date = Parse.blankToNull(form.date) ?: clock(),
                    means = form.means,
                    by = leadName,
                ),
            )
        }
    }

    /** Marks an alert or reminder task dealt with; it leaves the list. */
    fun dismissAlert(taskId: String): CompletableFuture<LeadState> {
        val cell = cellId ?: return CompletableFuture.completedFuture(state.value)
        return run {
            store.setTaskStatus(cell, taskId, TaskStatus.DONE)
            load()
        }
    }

    // ---- visits and health checks ----------------------------------------

    /**
     * Records a door-knock, health check, call or errand. What silin refuses
     * shows on the form's field (e.g. a temperature out of range on
     * [Field.TEMPERATURE]) and nothing is written. Resolves to the visit id,
     * or null if refused.
     */
    fun recordVisit(form: VisitForm): CompletableFuture<String?> {
        val cell = cellId ?: return noCell(FormKind.VISIT)
        val temperature = Parse.decimal(form.temperature)
        val local = buildMap {
            temperature.exceptionOrNull()?.let { put(Field.TEMPERATURE, it.message!!) }
        }
        return submit(FormKind.VISIT, local) {
            visits.recordVisit(
                cell,
                NewVisit(
                    kind = form.kind,
                    by = leadName,
                    householdId = form.householdId
                        ?: form.memberId?.let { m -> state.value.cell?.member(m)?.householdId },
                    memberId = form.memberId,
                    temperature = temperature.getOrNull(),
                    symptoms = Parse.blankToNull(form.symptoms),
                    outcome = Parse.blankToNull(form.outcome),
                    note = Parse.blankToNull(form.note),
                ),
            )
        }
    }

    // ---- today's report ---------------------------------------------------

    /**
     * Files today's report with the counts on the form (prefill it with
     * `state.value.report!!.draft.toForm()`); under monitoring and errands
     * are counted by silin from the register. Resolves to true once filed.
     */
    fun fileReport(form: ReportForm): CompletableFuture<Boolean> {
        val cell = cellId ?: return noCell(FormKind.REPORT).thenApply { false }
        val arrivals = Parse.whole(form.arrivals)
        val abnormal = Parse.whole(form.abnormal)
        val local = buildMap {
            arrivals.exceptionOrNull()?.let { put(Field.ARRIVALS, it.message!!) }
            abnormal.exceptionOrNull()?.let { put(Field.ABNORMAL, it.message!!) }
        }
        return submit(FormKind.REPORT, local) {
            store.submitReport(
                cell,
                NewReport(
                    date = clock(),
                    by = leadName,
                    arrivals = arrivals.getOrNull() ?: 0,
                    abnormal = abnormal.getOrNull() ?: 0,
                    note = Parse.blankToNull(form.note),
                ),
            )
            ""
        }.thenApply { it != null }
    }

    /** Files today's report with the prefilled counts, e.g. a zero report. */
    fun fileDraftReport(): CompletableFuture<Boolean> {
        val draft = state.value.report?.draft ?: ReportDraft(0, 0, 0, 0)
        return fileReport(draft.toForm())
    }

    // ---- sync -------------------------------------------------------------

    /**
     * Syncs with a nearby phone (a grid worker's, or another lead's) over
     * [link]: one side passes `initiate = true`, the other `false`. The link
     * is closed afterwards. Resolves to the sync state shown.
     */
    fun syncNearby(link: PeerLink, initiate: Boolean): CompletableFuture<SyncState> {
        startSync("nearby")
        return run {
            val outcome = try {
                val result = link.use {
                    if (initiate) PeerSync.initiate(store, it) else PeerSync.respond(store, it)
                }
                SyncState(with = "nearby", lastResult = describe("the other phone", result.stats), lastStats = result.stats)
            } catch (e: Exception) {
                SyncState(with = "nearby", error = UserMessages.of(e))
            }
            finishSync(outcome)
        }
    }

    /** Syncs with the township hub at [url] (blocking HTTP on the worker). */
    fun syncWithHub(url: String): CompletableFuture<SyncState> {
        if (url.isBlank()) {
            val s = SyncState(with = "hub", error = "Enter the hub's address, e.g. https://hub.example.org")
            mutableState.update { it.copy(sync = s) }
            return CompletableFuture.completedFuture(s)
        }
        startSync("hub")
        return run {
            val outcome = try {
                val stats = store.syncWithHub(url.trim())
                SyncState(with = "hub", lastResult = describe("the hub", stats), lastStats = stats)
            } catch (e: Exception) {
                SyncState(with = "hub", error = UserMessages.of(e))
            }
            finishSync(outcome)
        }
    }

    // ---- small things ------------------------------------------------------

    fun dismissMessage() {
        mutableState.update { it.copy(message = null) }
    }

    fun clearForm(kind: FormKind) {
        mutableState.update { it.copy(forms = it.forms - kind) }
    }

    /** Stops listening to the store. Does not close the store. */
    override fun close() {
        if (closed.compareAndSet(false, true)) {
            subscription?.let { store.unsubscribe(it) }
            subscription = null
            statusSubscription?.let { store.unsubscribeSyncStatus(it) }
            statusSubscription = null
            if (visitWriter.isInitialized()) visits.close()
        }
    }

    // ---- internals --------------------------------------------------------

    private fun startSync(with: String) {
        mutableState.update { it.copy(sync = it.sync.copy(running = true, with = with, error = null)) }
    }

    private fun finishSync(outcome: SyncState): SyncState {
        // The sync brought changes: raise what they call for (a check
        // missed on another phone's watch) and reload before saying it is done.
        if (outcome.error == null) {
            raiseAlertsQuietly()
            loadQuietly()
        }
        val shown = outcome.copy(status = store.syncStatus())
        mutableState.update { it.copy(sync = shown) }
        return shown
    }

    private fun describe(peer: String, s: SyncStats): String =
        if (s.docsSent == 0UL && s.docsReceived == 0UL) {
            "Already in step with $peer."
        } else {
            "Synced with $peer: ${s.docsReceived} cell(s) received, ${s.docsSent} sent."
        }

    private fun choose(id: String) {
        if (cellId != id) {
            cellId = id
            onCellChosen?.invoke(id)
        }
    }

    private fun noCell(kind: FormKind): CompletableFuture<String?> {
        setForm(kind, FormState(formError = "Create or choose your cell first."))
        return CompletableFuture.completedFuture(null)
    }

    private fun setForm(kind: FormKind, form: FormState) {
        mutableState.update { it.copy(forms = it.forms + (kind to form)) }
    }

    /**
     * Writes through silin on the worker. Local errors (text that is not a
     * number) are shown without calling silin; silin's Invalid lands on the
     * field it names, or on the form when this form has no such field.
     */
    private fun <T : Any> submit(
        kind: FormKind,
        local: Map<Field, String> = emptyMap(),
        write: () -> T,
    ): CompletableFuture<T?> {
        if (local.isNotEmpty()) {
            setForm(kind, FormState(fieldErrors = local))
            return CompletableFuture.completedFuture(null)
        }
        setForm(kind, FormState(submitting = true))
        return run {
            try {
                val result = write()
                setForm(kind, FormState(saved = result as? String ?: ""))
                loadQuietly()
                result
            } catch (e: StoreException.Invalid) {
                val field = Field.fromApi(e.field)?.takeIf { it in FIELDS.getValue(kind) }
                setForm(
                    kind,
                    if (field != null) {
                        FormState(fieldErrors = mapOf(field to e.rule))
                    } else {
                        FormState(formError = e.rule)
                    },
                )
                null
            } catch (e: Exception) {
                setForm(kind, FormState(formError = UserMessages.of(e)))
                null
            }
        }
    }

    /** Runs [block] on the worker; the future fails only if the executor refuses. */
    private fun <T> run(block: () -> T): CompletableFuture<T> {
        val future = CompletableFuture<T>()
        try {
            worker.execute {
                try {
                    future.complete(block())
                } catch (e: Throwable) {
                    mutableState.update { it.copy(message = UserMessages.of(e), loading = false) }
                    future.completeExceptionally(e)
                }
            }
        } catch (e: Exception) {
            future.completeExceptionally(e)
        }
        return future
    }

    /**
     * Worker only. True if it raised any task. A failure here must not stop
     * the screen from loading.
     */
    private fun raiseAlertsQuietly(): Boolean {
        val cell = cellId ?: return false
        return try {
            store.raiseAlerts(cell).isNotEmpty()
        } catch (e: StoreException.NotFound) {
            // The chosen cell is gone from this phone; load() picks another.
            false
        } catch (e: Exception) {
            mutableState.update { it.copy(message = UserMessages.of(e)) }
            false
        }
    }

    private fun loadQuietly() {
        try {
            load()
        } catch (e: Exception) {
            mutableState.update { it.copy(message = UserMessages.of(e)) }
        }
    }

    /** Reads my cell, today's monitoring and report from the store. Worker only. */
    private fun load(): LeadState {
        val day = clock()
        val cells = store.cells(emptyList())
        val choices = cells.map { CellChoice(it.id, it.name, it.regionPath) }
        val id = cellId?.takeIf { c -> cells.any { it.id == c } }
            ?: (cells.firstOrNull { it.lead == leadName } ?: cells.singleOrNull())?.id?.also { choose(it) }
        if (id == null) {
            return mutableState.update {
                it.copy(today = day, loading = false, cells = choices, cell = null, monitoring = emptyList(), report = null, day = null)
            }
        }
        val view = store.cell(id)
        val lead = store.leadDay(id, day, NOT_CALLED_DAYS)
        val visitIdsToday = store.visitsOn(day).filter { it.cellId == id }.map { it.visitId }.toSet()
        val monitoring = store.underMonitoring(day).filter { it.cellId == id }
        val missing = store.cellsMissingReport(day).any { it.id == id }
        val today = Today(view, visitIdsToday)

        val cell = CellState(
            id = view.cell.id,
            name = view.cell.name,
            regionPath = view.cell.regionPath,
            lead = view.cell.lead,
            households = view.households.map { h ->
                HouseholdRow(
                    id = h.id,
                    label = listOfNotNull(h.door?.let { "Door $it" }, h.address).joinToString(" · ").ifEmpty { "Household" },
                    phone = h.phone,
                    members = h.members.map { m ->
                        MemberRow(
                            id = m.id,
                            householdId = h.id,
                            name = m.name,
                            sex = m.sex,
                            birthYear = m.birthYear,
                            phone = m.phone,
                            residence = m.residence,
                            arrivalFrom = m.arrivalFrom,
                            arrivalDate = m.arrivalDate,
                            monitoringSince = m.monitoringSince,
                            monitoringUntil = m.monitoringUntil,
                            underMonitoring = monitoring.any { s -> s.memberId == m.id },
                            vulnerable = m.vulnerable,
                            abnormalToday = m.id in today.abnormalMembers,
                        )
                    },
                )
            },
            visitsToday = today.visits.map { v ->
                VisitRow(
                    id = v.id,
                    kind = v.kind,
                    memberId = v.memberId,
                    memberName = v.memberId?.let { today.names[it] },
                    at = v.at,
                    by = v.by,
                    temperature = v.temperature,
                    symptoms = v.symptoms,
                    note = v.note,
                    abnormal = v.abnormal,
                )
            },
            conflicts = view.conflicts.size,
        )
        val monitored = monitoring.map { s ->
            val theirs = today.visits.filter { it.memberId == s.memberId }
            MonitoredMember(
                memberId = s.memberId,
                householdId = s.householdId,
                name = s.name,
                phone = s.phone,
                since = s.monitoringSince,
                until = s.monitoringUntil,
                checkedToday = theirs.any { it.kind == VisitKind.HEALTH_CHECK },
                lastTemperature = theirs.firstOrNull { it.temperature != null }?.temperature,
                abnormalToday = theirs.any { it.abnormal },
                vulnerable = s.vulnerable,
            )
        }
        // The counts silin drafts from the day's log; filing different
        // ones is flagged for the office.
        val draft = ReportDraft(
            arrivals = lead.draft.arrivals,
            underMonitoring = lead.draft.underMonitoring,
            abnormal = lead.draft.abnormal,
            errands = lead.draft.errands,
        )
        val filed = view.reports.firstOrNull { it.date == day }?.let {
            FiledReport(it.by, it.at, it.arrivals, it.underMonitoring, it.abnormal, it.errands, it.note, it.zero, it.flag)
        }
        return mutableState.update {
            it.copy(
                today = day,
                loading = false,
                cells = choices,
                cell = cell,
                monitoring = monitored,
                report = ReportState(day, draft, filed, missing),
                day = dayState(lead),
            )
        }
    }

    private fun dayState(d: LeadDay): DayState {
        fun row(c: org.silin.CheckDay) =
            DueCheck(c.memberId, c.householdId, c.name, c.day, c.done, c.required, c.until, c.daysLeft)
        return DayState(
            date = d.date,
            due = d.due.map(::row),
            missed = d.missed.map(::row),
            alerts = d.openTasks
                .filter { it.kind == TaskKind.ALERT || it.kind == TaskKind.REMINDER }
                .sortedWith(compareByDescending<org.silin.CellTask> { it.created })
                .map { AlertRow(it.id, it.kind, it.title, it.memberId, it.due) },
            awayNotCalled = d.away.map { AwayRow(it.memberId, it.name, it.phone, it.awayAt, it.lastCalled, it.daysSince) },
            errandsWaiting = d.errands.size,
            leadName = d.lead?.name,
            health = d.members.associate { it.memberId to it.health },
        )
    }

    /** Today's visits of one cell, newest first, and who they found abnormal. */
    private class Today(view: CellView, ids: Set<String>) {
        val visits = view.visits.filter { it.id in ids }.sortedByDescending { it.at }
        val abnormalMembers = visits.filter { it.abnormal }.mapNotNull { it.memberId }.toSet()
        val names = view.households.flatMap { it.members }.associate { it.id to it.name }
    }

    companion object {
        /** Residents away not called for this many days are listed to call. */
        const val NOT_CALLED_DAYS = 7L

        /** The fields each form shows; an error on any other field is shown on the form. */
        val FIELDS: Map<FormKind, Set<Field>> = mapOf(
            FormKind.CELL to setOf(Field.NAME, Field.REGION_PATH, Field.LEAD),
            FormKind.HOUSEHOLD to setOf(Field.DOOR, Field.ADDRESS, Field.PHONE),
            FormKind.MEMBER to setOf(
                Field.NAME, Field.SEX, Field.BIRTH_YEAR, Field.ID_NUMBER, Field.PHONE, Field.RELATION,
            ),
            FormKind.ARRIVAL to setOf(Field.MEMBER, Field.NAME, Field.PHONE, Field.FROM, Field.RISK, Field.DATE, Field.MEANS),
            FormKind.VISIT to setOf(Field.KIND, Field.MEMBER, Field.TEMPERATURE, Field.SYMPTOMS, Field.OUTCOME, Field.NOTE),
            FormKind.REPORT to setOf(Field.ARRIVALS, Field.ABNORMAL, Field.NOTE),
        )
    }
}
