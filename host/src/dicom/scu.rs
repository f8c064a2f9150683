//! Our own SCU on the same crates: C-ECHO, MWL C-FIND (with C-CANCEL),
//! MPPS N-CREATE / N-SET. Used by `test-client`, `test-mpps`, `echo`, the
//! load client and the tests.

use super::dimse::{self, field, status, Assembler, Message};
use super::server::{quickack, tune_socket};
use super::transport::Transport;
use dicom_core::{dicom_value, DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::Association;
use dicom_ul::pdu::PresentationContextResultReason;
use dicom_ul::{ClientAssociation, ClientAssociationOptions, Pdu};
use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct ScuOptions {
    /// `host:port` of the SCP.
    pub addr: String,
    /// The SCP's AE title.
    pub called_ae: String,
    /// Our AE title.
    pub calling_ae: String,
    /// Connection, read and write timeout.
    pub timeout: Duration,
}

/// An SCU failure, in words.
#[derive(Debug)]
pub struct ScuError(pub String);

impl fmt::Display for ScuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScuError {}

fn err(context: &str, e: &dyn std::error::Error) -> ScuError {
    ScuError(format!("{context}: {}", dimse::error_chain(e)))
}

/// A final response: its status and command set.
#[derive(Debug)]
pub struct Response {
    /// The Status (0000,0900).
    pub status: u16,
    /// The whole command set.
    pub command: InMemDicomObject,
}

/// A TLS stream as dicom-ul's `establish_with_tls` returns it.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// An established association as SCU, over plain TCP or TLS.
pub struct Client {
    assoc: Link,
    assembler: Assembler,
    backlog: VecDeque<Message>,
    next_id: u16,
}

/// The association under a [`Client`].
enum Link {
    Plain(ClientAssociation<TcpStream>),
    Tls(Box<ClientAssociation<TlsStream>>),
}

/// Runs `$body` with `$a` bound to the association, whichever stream it has.
macro_rules! on_link {
    ($link:expr, $a:ident => $body:expr) => {
        match &mut $link {
            Link::Plain($a) => $body,
            Link::Tls($a) => $body,
        }
    };
}

/// The association request: our AE titles, timeouts, one presentation
/// context per SOP class (explicit and implicit VR little endian).
fn negotiation(options: &ScuOptions, sop_classes: &[&str]) -> ClientAssociationOptions<'static> {
    let mut negotiation = ClientAssociationOptions::new()
        .calling_ae_title(options.calling_ae.clone())
        .called_ae_title(options.called_ae.clone())
        .read_timeout(options.timeout)
        .write_timeout(options.timeout)
        .connection_timeout(options.timeout);
    for class in sop_classes {
        negotiation = negotiation.with_abstract_syntax(class.to_string());
    }
    negotiation
}

fn association_error(options: &ScuOptions, e: &dyn std::error::Error) -> ScuError {
    err(
        &format!("association with {} at {}", options.called_ae, options.addr),
        e,
    )
}

impl Client {
    /// Connects over plain TCP and negotiates one presentation context per
    /// SOP class (explicit and implicit VR little endian).
    pub fn connect(options: &ScuOptions, sop_classes: &[&str]) -> Result<Client, ScuError> {
        let assoc = negotiation(options, sop_classes)
            .establish_with(&options.addr)
            .map_err(|e| association_error(options, &e))?;
        Ok(Client::new(Link::Plain(assoc)))
    }

    /// Connects over TLS with `tls` (the server's certificate checked
    /// against the host part of the address) and negotiates as
    /// [`Client::connect`] does.
    pub fn connect_tls(
        options: &ScuOptions,
        tls: Arc<rustls::ClientConfig>,
        sop_classes: &[&str],
    ) -> Result<Client, ScuError> {
        let assoc = negotiation(options, sop_classes)
            .tls_config(tls)
            .server_name(crate::tls::server_name(&options.addr))
            .establish_with_tls(&options.addr)
            .map_err(|e| association_error(options, &e))?;
        Ok(Client::new(Link::Tls(Box::new(assoc))))
    }

    fn new(mut assoc: Link) -> Client {
        tune_socket(on_link!(assoc, a => a.inner_stream().tcp()));
        Client {
            assoc,
            assembler: Assembler::new(64 * 1024 * 1024),
            backlog: VecDeque::new(),
            next_id: 1,
        }
    }

    /// The subject of the server's certificate (TLS only).
    pub fn server_subject(&mut self) -> Option<String> {
        on_link!(self.assoc, a => a.inner_stream().peer_subject())
    }

    fn context(&self, sop_class: &str) -> Result<(u8, &'static TransferSyntax), ScuError> {
        let contexts = match &self.assoc {
            Link::Plain(a) => a.presentation_contexts(),
            Link::Tls(a) => a.presentation_contexts(),
        };
        let pc = contexts
            .iter()
            .find(|pc| {
                pc.abstract_syntax == sop_class
                    && pc.reason == PresentationContextResultReason::Acceptance
            })
            .ok_or_else(|| ScuError(format!("the SCP did not accept SOP class {sop_class}")))?;
        let ts = TransferSyntaxRegistry
            .get(&pc.transfer_syntax)
            .ok_or_else(|| ScuError(format!("unknown transfer syntax {}", pc.transfer_syntax)))?;
        Ok((pc.id, ts))
    }

    fn message_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn send(
        &mut self,
        pc_id: u8,
        command: &InMemDicomObject,
        data: Option<(&InMemDicomObject, &TransferSyntax)>,
    ) -> Result<(), ScuError> {
        let command = dimse::encode_command(command).map_err(ScuError)?;
        let data = match data {
            Some((d, ts)) => Some(dimse::encode_data(d, ts).map_err(ScuError)?),
            None => None,
        };
        let (pdu, rest) = dimse::message_pdus(
            pc_id,
            command,
            data,
            on_link!(self.assoc, a => a.peer_max_pdu_length()),
        );
        on_link!(self.assoc, a => a.send(&pdu)).map_err(|e| err("sending", &e))?;
        if let Some(rest) = rest {
            on_link!(self.assoc, a => {
                let mut writer = a.send_pdata(pc_id);
                writer.write_all(&rest).map_err(|e| err("sending", &e))?;
                writer.finish().map_err(|e| err("sending", &e))?;
            });
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<Message, ScuError> {
        loop {
            if let Some(m) = self.backlog.pop_front() {
                return Ok(m);
            }
            quickack(on_link!(self.assoc, a => a.inner_stream().tcp()));
            match on_link!(self.assoc, a => a.receive()).map_err(|e| err("receiving", &e))? {
                Pdu::PData { data } => {
                    for pdv in data {
                        if let Some(m) = self.assembler.feed(pdv).map_err(|e| ScuError(e.0))? {
                            self.backlog.push_back(m);
                        }
                    }
                }
                Pdu::AbortRQ { source } => {
                    return Err(ScuError(format!(
                        "the SCP aborted the association ({source:?})"
                    )))
                }
                other => return Err(ScuError(format!("unexpected PDU from the SCP: {other:?}"))),
            }
        }
    }

    fn request(
        field_value: u16,
        id: u16,
        class_tag: dicom_core::Tag,
        class: &str,
        extra: Vec<DataElement<InMemDicomObject>>,
        with_data: bool,
    ) -> InMemDicomObject {
        let mut elements = vec![
            DataElement::new(class_tag, VR::UI, dicom_value!(Str, class)),
            DataElement::new(
                tags::COMMAND_FIELD,
                VR::US,
                dicom_value!(U16, [field_value]),
            ),
            DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [id])),
            DataElement::new(
                tags::COMMAND_DATA_SET_TYPE,
                VR::US,
                dicom_value!(
                    U16,
                    [if with_data {
                        dimse::DATA_SET_PRESENT
                    } else {
                        dimse::NO_DATA_SET
                    }]
                ),
            ),
        ];
        elements.extend(extra);
        InMemDicomObject::command_from_element_iter(elements)
    }

    /// C-ECHO; returns the status.
    pub fn echo(&mut self) -> Result<u16, ScuError> {
        let (pc, _) = self.context(uids::VERIFICATION)?;
        let id = self.message_id();
        let rq = Self::request(
            field::C_ECHO_RQ,
            id,
            tags::AFFECTED_SOP_CLASS_UID,
            uids::VERIFICATION,
            vec![],
            false,
        );
        self.send(pc, &rq, None)?;
        let rsp = self.receive()?;
        Ok(dimse::u16_of(&rsp.command, tags::STATUS).unwrap_or(0xFFFF))
    }

    /// MWL C-FIND: hands each pending identifier to `each`; when it breaks,
    /// sends C-CANCEL and drains. Returns the final status.
    pub fn find(
        &mut self,
        identifier: &InMemDicomObject,
        mut each: impl FnMut(u16, InMemDicomObject) -> ControlFlow<()>,
    ) -> Result<u16, ScuError> {
        self.find_raw(identifier, true, |code, data| {
            each(code, data.unwrap_or_else(InMemDicomObject::new_empty))
        })
    }

    /// Like [`Client::find`]; with `decode` false the answers are only
    /// counted (`None`), not decoded (the load client's way).
    pub fn find_raw(
        &mut self,
        identifier: &InMemDicomObject,
        decode: bool,
        mut each: impl FnMut(u16, Option<InMemDicomObject>) -> ControlFlow<()>,
    ) -> Result<u16, ScuError> {
        let class = uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND;
        let (pc, ts) = self.context(class)?;
        let id = self.message_id();
        let priority = DataElement::new(tags::PRIORITY, VR::US, dicom_value!(U16, [0]));
        let rq = Self::request(
            field::C_FIND_RQ,
            id,
            tags::AFFECTED_SOP_CLASS_UID,
            class,
            vec![priority],
            true,
        );
        self.send(pc, &rq, Some((identifier, ts)))?;
        let mut cancelled = false;
        loop {
            let rsp = self.receive()?;
            let code = dimse::u16_of(&rsp.command, tags::STATUS).unwrap_or(0xFFFF);
            if code != status::PENDING && code != status::PENDING_WARNING {
                return Ok(code);
            }
            let data = match rsp.data.as_deref() {
                Some(bytes) if decode => Some(dimse::decode_data(bytes, ts).map_err(ScuError)?),
                _ => None,
            };
            if !cancelled && each(code, data).is_break() {
                cancelled = true;
                let cancel = InMemDicomObject::command_from_element_iter([
                    DataElement::new(
                        tags::COMMAND_FIELD,
                        VR::US,
                        dicom_value!(U16, [field::C_CANCEL_RQ]),
                    ),
                    DataElement::new(
                        tags::MESSAGE_ID_BEING_RESPONDED_TO,
                        VR::US,
                        dicom_value!(U16, [id]),
                    ),
                    DataElement::new(
                        tags::COMMAND_DATA_SET_TYPE,
                        VR::US,
                        dicom_value!(U16, [dimse::NO_DATA_SET]),
                    ),
                ]);
                self.send(pc, &cancel, None)?;
            }
        }
    }

    fn n_request(
        &mut self,
        create: bool,
        uid: Option<&str>,
        data: &InMemDicomObject,
    ) -> Result<Response, ScuError> {
        let class = uids::MODALITY_PERFORMED_PROCEDURE_STEP;
        let (pc, ts) = self.context(class)?;
        let id = self.message_id();
        let rq = if create {
            let extra = uid
                .map(|u| {
                    vec![DataElement::new(
                        tags::AFFECTED_SOP_INSTANCE_UID,
                        VR::UI,
                        dicom_value!(Str, u),
                    )]
                })
                .unwrap_or_default();
            Self::request(
                field::N_CREATE_RQ,
                id,
                tags::AFFECTED_SOP_CLASS_UID,
                class,
                extra,
                true,
            )
        } else {
            let extra = vec![DataElement::new(
                tags::REQUESTED_SOP_INSTANCE_UID,
                VR::UI,
                dicom_value!(Str, uid.unwrap_or_default()),
            )];
            Self::request(
                field::N_SET_RQ,
                id,
                tags::REQUESTED_SOP_CLASS_UID,
                class,
                extra,
                true,
            )
        };
        self.send(pc, &rq, Some((data, ts)))?;
        let rsp = self.receive()?;
        Ok(Response {
            status: dimse::u16_of(&rsp.command, tags::STATUS).unwrap_or(0xFFFF),
            command: rsp.command,
        })
    }

    /// MPPS N-CREATE (`uid` None lets the SCP choose one).
    pub fn n_create(
        &mut self,
        uid: Option<&str>,
        data: &InMemDicomObject,
    ) -> Result<Response, ScuError> {
        self.n_request(true, uid, data)
    }

    /// MPPS N-SET.
    pub fn n_set(&mut self, uid: &str, data: &InMemDicomObject) -> Result<Response, ScuError> {
        self.n_request(false, Some(uid), data)
    }

    /// Releases the association.
    pub fn release(self) -> Result<(), ScuError> {
        match self.assoc {
            Link::Plain(a) => a.release(),
            Link::Tls(a) => a.release(),
        }
        .map_err(|e| err("release", &e))
    }
}
