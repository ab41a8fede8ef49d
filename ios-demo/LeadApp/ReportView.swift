import LeadKit
import Silin
import SwiftUI

/// Today's report: the lead confirms two counts; silin counts who is under
/// monitoring and the errands from the register.
struct ReportView: View {
    @ObservedObject var model: LeadViewModel

    var body: some View {
        Form {
            Section(model.day) {
                Stepper("今日返乡 \(model.reportDraft.arrivals) 人", value: $model.reportDraft.arrivals, in: 0...999)
                error("arrivals")
                Stepper("异常 \(model.reportDraft.abnormal) 人", value: $model.reportDraft.abnormal, in: 0...999)
                error("abnormal")
                TextField("备注", text: $model.reportDraft.note)
                Text("居家监测 \(model.underMonitoring.count) 人（自动统计）").foregroundColor(.secondary)
            }
            Section {
                if model.reportFiledToday {
                    Label(filedZero ? "今日已零报告" : "今日已报告", systemImage: "checkmark.seal")
                } else {
                    Button("提交今日报告") { _Concurrency.Task { await model.fileTodaysReport() } }
                        .disabled(model.busy || model.cell == nil)
                }
            }
        }
        .navigationTitle("每日报告")
    }

    /// Whether today's filed report is a zero report.
    private var filedZero: Bool {
        model.cell?.reports.last { $0.date == model.day }?.zero ?? false
    }

    @ViewBuilder
    private func error(_ field: String) -> some View {
        if let text = model.reportErrors[field] {
            Text(text).font(.footnote).foregroundColor(.red)
        }
    }
}
