// Live queries: the store's answers as Kotlin Flows that emit again after
// each committed change that alters them. Hand-written over the generated
// bindings (Store.subscribe / CellObserver); nothing here is generated.
package org.silin

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.launch

/**
 * A query that runs again whenever a change to one of `cells` (any cell
 * when null) is committed, emitting only answers that differ from the last
 * one. The first answer comes at once. The query runs on `dispatcher`
 * (silin calls block); a query that throws ends the flow with its
 * StoreException. Cancelling the collector unsubscribes.
 */
fun <T> Store.liveQuery(
    cells: Set<String>? = null,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
    query: Store.() -> T,
): Flow<T> = callbackFlow {
    // Subscribed before the first query, so no change between the two is
    // missed; the channel keeps at most one pending "changed".
    val changed = Channel<Unit>(Channel.CONFLATED)
    val subscription = subscribe(object : CellObserver {
        override fun cellsChanged(cellIds: List<String>) {
            if (cells == null || cellIds.any { it in cells }) changed.trySend(Unit)
        }
    })
    launch {
        send(query())
        for (unit in changed) send(query())
    }
    awaitClose {
        changed.close()
        unsubscribe(subscription)
    }
}.flowOn(dispatcher).distinctUntilChanged()

/** The cells held here within `scope` (empty: every cell), as they change. */
fun Store.cellsFlow(
    scope: List<String> = emptyList(),
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<CellInfo>> = liveQuery(null, dispatcher) { cells(scope) }

/** One cell's whole view, after each change to that cell. */
fun Store.cellFlow(
    cellId: String,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<CellView> = liveQuery(setOf(cellId), dispatcher) { cell(cellId) }

/** A cell's open tasks (errands not yet done or cancelled). */
fun Store.openTasksFlow(
    cellId: String,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<CellTask>> = liveQuery(setOf(cellId), dispatcher) {
    cell(cellId).tasks.filter { it.status == TaskStatus.OPEN }
}

/** Members under home monitoring on `day`, over every cell held. */
fun Store.underMonitoringFlow(
    day: String,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<MemberSummary>> = liveQuery(null, dispatcher) { underMonitoring(day) }

/** Members whose monitoring ends on `day`. */
fun Store.monitoringEndsFlow(
    day: String,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<MemberSummary>> = liveQuery(null, dispatcher) { monitoringEnds(day) }

/** Elderly, disabled, living-alone … members to look in on. */
fun Store.vulnerableMembersFlow(
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<MemberSummary>> = liveQuery(null, dispatcher) { vulnerableMembers() }

/** Cells with no report filed for `day`. */
fun Store.cellsMissingReportFlow(
    day: String,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<CellInfo>> = liveQuery(null, dispatcher) { cellsMissingReport(day) }

/** Visits recorded on `day`. */
fun Store.visitsOnFlow(
    day: String,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): Flow<List<VisitSummary>> = liveQuery(null, dispatcher) { visitsOn(day) }
