#[test]
fn sizes() {
    use presenced::transport::Flow;
    eprintln!(
        "Inbound {}",
        std::mem::size_of::<presenced::transport::Inbound>()
    );
    eprintln!(
        "Output {}",
        std::mem::size_of::<sip::transaction::Output<Flow>>()
    );
    eprintln!(
        "Input {}",
        std::mem::size_of::<sip::transaction::Input<Flow>>()
    );
    eprintln!("Key {}", std::mem::size_of::<sip::transaction::Key>());
    eprintln!("Uri {}", std::mem::size_of::<sip::Uri>());
    eprintln!("Headers {}", std::mem::size_of::<sip::header::Headers>());
    eprintln!("Action {}", std::mem::size_of::<presence::Action<Flow>>());
    eprintln!("Notify {}", std::mem::size_of::<presence::notify::Notify>());
    eprintln!(
        "EngineInput {}",
        std::mem::size_of::<presence::Input<Flow>>()
    );
    eprintln!(
        "(Key,Output) {}",
        std::mem::size_of::<(sip::transaction::Key, sip::transaction::Output<Flow>)>()
    );
}
