"""NF-e XML documents for tests: an authorized nfeProc, and each way one can be wrong."""

from __future__ import annotations

from tests.factories import ACCESS_KEY

BUYER_CPF = "12345678909"  # the emulated Mercado Livre buyer's


def nfe_xml(
    key: str = ACCESS_KEY,
    *,
    status: str = "100",
    protocol_key: str | None = None,
    dest: str = BUYER_CPF,
    protocol: bool = True,
    root: str = "nfeProc",
    padding: int = 0,
) -> str:
    """An NF-e as the SEFAZ returns it authorized (``nfeProc``), or bent as asked:
    another ``cStat``, another key in the protocol, no protocol, a bare ``NFe`` root."""
    nfe = (
        '<NFe xmlns="http://www.portalfiscal.inf.br/nfe">'
        f'<infNFe Id="NFe{key}" versao="4.00">'
        "<ide><cUF>35</cUF><natOp>Venda</natOp><mod>55</mod><serie>1</serie>"
        "<nNF>1234</nNF><dhEmi>2026-11-27T11:59:00-03:00</dhEmi></ide>"
        "<emit><CNPJ>12345678000199</CNPJ><xNome>Loja Exemplo LTDA</xNome></emit>"
        f"<dest><CPF>{dest}</CPF><xNome>Ana Compradora</xNome></dest>"
        '<det nItem="1"><prod><cProd>SKU-1</cProd><xProd>Camiseta</xProd>'
        "<qCom>2.0000</qCom><vUnCom>129.95</vUnCom></prod></det>"
        "<total><ICMSTot><vNF>259.90</vNF></ICMSTot></total>"
        f"<infAdic><infCpl>{'x' * padding}</infCpl></infAdic>"
        "</infNFe>"
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>'
        "</NFe>"
    )
    if root == "NFe":
        return '<?xml version="1.0" encoding="UTF-8"?>' + nfe
    motive = "Autorizado o uso da NF-e" if status == "100" else "Rejeicao: Uso Denegado"
    proc = (
        '<protNFe versao="4.00"><infProt><tpAmb>1</tpAmb>'
        f"<chNFe>{protocol_key or key}</chNFe><dhRecbto>2026-11-27T11:59:30-03:00</dhRecbto>"
        f"<nProt>135260000000001</nProt><cStat>{status}</cStat><xMotivo>{motive}</xMotivo>"
        "</infProt></protNFe>"
        if protocol
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<{root} xmlns="http://www.portalfiscal.inf.br/nfe" versao="4.00">{nfe}{proc}</{root}>'
    )


OTHER_KEY = "35261112345678000199550010000099991000099990"
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE nfeProc [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    '<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe">&c;</nfeProc>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE nfeProc [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe">&x;</nfeProc>'
)
