import LeadKit
import SwiftUI

struct ContentView: View {
    @ObservedObject var model: LeadViewModel

    var body: some View {
        TabView {
            NavigationView { CellView(model: model) }
                .tabItem { Label("我的联户", systemImage: "house") }
            NavigationView { VisitFormView(model: model) }
                .tabItem { Label("走访", systemImage: "stethoscope") }
            NavigationView { ReportView(model: model) }
                .tabItem { Label("日报", systemImage: "doc.text") }
            NavigationView { SyncView(model: model) }
                .tabItem { Label("同步", systemImage: "arrow.triangle.2.circlepath") }
        }
        .alert(
            "提示",
            isPresented: Binding(get: { model.message != nil }, set: { if !$0 { model.message = nil } }),
            actions: { Button("好") { model.message = nil } },
            message: { Text(model.message ?? "") })
    }
}
