// On Apple platforms the view model is a Combine ObservableObject with
// @Published properties, as SwiftUI wants. Linux has no Combine; there these
// stand-ins let the same code build so that its tests run with `swift test`.
#if !canImport(Combine)
public protocol ObservableObject: AnyObject {}

@propertyWrapper
public struct Published<Value> {
    public var wrappedValue: Value
    public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }
}
#endif
