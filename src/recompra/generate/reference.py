"""Static reference data: Brazilian e-commerce categories, product words, states, cities."""

from __future__ import annotations

from typing import NamedTuple


class CategoryRef(NamedTuple):
    """A built-in product category.

    Attributes
    ----------
    slug, name_pt, name_en
        Olist-style slug and display names.
    weight
        Relative share of demand.
    median_price
        Median list price of its products (BRL).
    nouns
        Product nouns (pt-BR) used to build product names.
    """

    slug: str
    name_pt: str
    name_en: str
    weight: float
    median_price: float
    nouns: tuple[str, ...]


CATEGORY_REFS: tuple[CategoryRef, ...] = (
    CategoryRef("cama_mesa_banho", "Cama, mesa e banho", "Bed, bath & table", 11.0, 90.0,
                ("Jogo de lençol", "Toalha de banho", "Edredom", "Travesseiro", "Toalha de mesa",
                 "Cobre-leito", "Jogo de toalhas")),
    CategoryRef("beleza_saude", "Beleza e saúde", "Health & beauty", 10.0, 95.0,
                ("Sérum facial", "Protetor solar FPS 50", "Creme hidratante", "Shampoo",
                 "Máscara capilar", "Escova secadora", "Vitamina C")),
    CategoryRef("esporte_lazer", "Esporte e lazer", "Sports & leisure", 8.0, 110.0,
                ("Tênis de corrida", "Garrafa térmica", "Halter emborrachado", "Tapete de yoga",
                 "Bola de futebol", "Bicicleta ergométrica", "Luva de academia")),
    CategoryRef("moveis_decoracao", "Móveis e decoração", "Furniture & decor", 8.0, 120.0,
                ("Quadro decorativo", "Luminária de mesa", "Espelho redondo", "Prateleira",
                 "Vaso de cerâmica", "Cadeira de escritório", "Tapete de sala")),
    CategoryRef("informatica_acessorios", "Informática e acessórios",
                "Computers & accessories", 7.0, 120.0,
                ("Mouse sem fio", "Teclado mecânico", "Cabo USB-C", "Carregador turbo",
                 "Película de vidro", "Capa protetora", "Fone Bluetooth", "Pen drive 64GB")),
    CategoryRef("utilidades_domesticas", "Utilidades domésticas", "Housewares", 7.0, 75.0,
                ("Jogo de panelas", "Garrafa de café", "Pote hermético", "Tábua de corte",
                 "Escorredor de louça", "Faqueiro", "Organizador")),
    CategoryRef("relogios_presentes", "Relógios e presentes", "Watches & gifts", 6.0, 180.0,
                ("Relógio analógico", "Relógio digital", "Smartwatch", "Caixa de presente",
                 "Pulseira", "Kit presente")),
    CategoryRef("telefonia", "Telefonia", "Telephony", 5.0, 140.0,
                ("Smartphone", "Celular básico", "Carregador portátil", "Suporte veicular",
                 "Telefone sem fio", "Fone de ouvido")),
    CategoryRef("ferramentas_jardim", "Ferramentas e jardim", "Garden tools", 4.0, 100.0,
                ("Furadeira", "Jogo de chaves", "Mangueira", "Kit jardinagem",
                 "Parafusadeira", "Trena")),
    CategoryRef("automotivo", "Automotivo", "Auto", 4.0, 115.0,
                ("Tapete automotivo", "Capa de banco", "Aspirador automotivo", "Calibrador",
                 "Central multimídia", "Cera automotiva")),
    CategoryRef("brinquedos", "Brinquedos", "Toys", 4.0, 85.0,
                ("Quebra-cabeça", "Boneca", "Carrinho de controle remoto", "Blocos de montar",
                 "Jogo de tabuleiro", "Pelúcia")),
    CategoryRef("perfumaria", "Perfumaria", "Perfumery", 3.5, 130.0,
                ("Perfume feminino", "Perfume masculino", "Body splash", "Desodorante",
                 "Colônia infantil", "Kit perfume")),
    CategoryRef("bebes", "Bebês", "Baby", 3.0, 105.0,
                ("Fralda", "Mamadeira", "Carrinho de bebê", "Body infantil", "Chupeta",
                 "Banheira", "Trocador")),
    CategoryRef("eletronicos", "Eletrônicos", "Electronics", 3.0, 150.0,
                ("Caixa de som Bluetooth", "Fone sem fio", "Câmera de segurança",
                 "Controle universal", "Pilhas recarregáveis", "Antena digital")),
    CategoryRef("pet_shop", "Pet shop", "Pet shop", 2.5, 70.0,
                ("Ração premium", "Cama para cachorro", "Arranhador", "Coleira",
                 "Comedouro", "Areia higiênica")),
    CategoryRef("papelaria", "Papelaria", "Stationery", 2.0, 40.0,
                ("Caderno universitário", "Kit canetas", "Agenda", "Estojo", "Marca-texto",
                 "Mochila escolar")),
    CategoryRef("fashion_bolsas_e_acessorios", "Bolsas e acessórios",
                "Bags & accessories", 2.0, 85.0,
                ("Bolsa transversal", "Carteira", "Óculos de sol", "Mochila", "Cinto",
                 "Necessaire")),
    CategoryRef("eletrodomesticos", "Eletrodomésticos", "Home appliances", 1.5, 260.0,
                ("Liquidificador", "Air fryer", "Cafeteira", "Ventilador", "Aspirador de pó",
                 "Sanduicheira")),
    CategoryRef("livros_interesse_geral", "Livros de interesse geral",
                "General interest books", 1.0, 45.0,
                ("Livro de receitas", "Romance", "Biografia", "Livro infantil",
                 "Guia de viagem")),
    CategoryRef("alimentos_bebidas", "Alimentos e bebidas", "Food & drinks", 1.0, 55.0,
                ("Café especial", "Chocolate artesanal", "Azeite extravirgem",
                 "Kit cervejas", "Chá orgânico")),
)  # fmt: skip

#: Directed complementary category pairs: buyers of the first often add the second.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "telefonia": ("informatica_acessorios", "eletronicos"),
    "bebes": ("brinquedos", "cama_mesa_banho"),
    "brinquedos": ("bebes", "papelaria"),
    "informatica_acessorios": ("eletronicos", "papelaria"),
    "eletronicos": ("informatica_acessorios", "telefonia"),
    "beleza_saude": ("perfumaria",),
    "perfumaria": ("beleza_saude",),
    "cama_mesa_banho": ("moveis_decoracao", "utilidades_domesticas"),
    "moveis_decoracao": ("cama_mesa_banho", "utilidades_domesticas"),
    "utilidades_domesticas": ("eletrodomesticos", "cama_mesa_banho"),
    "eletrodomesticos": ("utilidades_domesticas",),
    "esporte_lazer": ("beleza_saude", "relogios_presentes"),
    "relogios_presentes": ("perfumaria", "fashion_bolsas_e_acessorios"),
    "fashion_bolsas_e_acessorios": ("relogios_presentes", "perfumaria"),
    "automotivo": ("ferramentas_jardim",),
    "ferramentas_jardim": ("automotivo", "utilidades_domesticas"),
    "pet_shop": ("utilidades_domesticas",),
    "papelaria": ("livros_interesse_geral", "informatica_acessorios"),
    "livros_interesse_geral": ("papelaria",),
    "alimentos_bebidas": ("utilidades_domesticas",),
}

#: Words appended to product nouns.
QUALIFIERS: tuple[str, ...] = (
    "Premium", "Básico", "Plus", "Pro", "Max", "Slim", "Clássico", "Kit 2 un.",
    "Azul", "Preto", "Branco", "Rosa", "Cinza", "Verde", "Grande", "Compacto",
)  # fmt: skip

#: Fictional brand names.
MAKERS: tuple[str, ...] = (
    "Casa Viva", "Bella Pele", "Atlântica", "Ipê", "Jacarandá", "Tupã", "Brisa",
    "Serra Azul", "Guaraná", "Carioca", "Paulista", "Aurora", "Sabiá", "Pitanga",
    "Boto", "Cajuína", "Mandacaru", "Ybirá", "Vitória", "Araucária",
)  # fmt: skip


class StateRef(NamedTuple):
    """A Brazilian state: code, population (millions, IBGE 2022), region, cities."""

    code: str
    population: float
    region: str
    cities: tuple[str, ...]


#: States with population weights; the first city (the capital) gets half the state's buyers.
STATES: tuple[StateRef, ...] = (
    StateRef("SP", 44.4, "SE", ("São Paulo", "Campinas", "Guarulhos", "Santos", "Ribeirão Preto",
                                "São José dos Campos", "Sorocaba")),
    StateRef("MG", 20.5, "SE", ("Belo Horizonte", "Uberlândia", "Contagem", "Juiz de Fora",
                                "Montes Claros")),
    StateRef("RJ", 16.1, "SE", ("Rio de Janeiro", "Niterói", "São Gonçalo", "Duque de Caxias",
                                "Nova Iguaçu")),
    StateRef("BA", 14.1, "NE", ("Salvador", "Feira de Santana", "Vitória da Conquista",
                                "Camaçari")),
    StateRef("PR", 11.4, "S", ("Curitiba", "Londrina", "Maringá", "Ponta Grossa", "Cascavel")),
    StateRef("RS", 10.9, "S", ("Porto Alegre", "Caxias do Sul", "Pelotas", "Canoas",
                               "Santa Maria")),
    StateRef("PE", 9.1, "NE", ("Recife", "Jaboatão dos Guararapes", "Olinda", "Caruaru")),
    StateRef("CE", 8.8, "NE", ("Fortaleza", "Caucaia", "Juazeiro do Norte", "Sobral")),
    StateRef("PA", 8.1, "N", ("Belém", "Ananindeua", "Santarém", "Marabá")),
    StateRef("SC", 7.6, "S", ("Florianópolis", "Joinville", "Blumenau", "Chapecó", "Itajaí")),
    StateRef("GO", 7.1, "CO", ("Goiânia", "Aparecida de Goiânia", "Anápolis", "Rio Verde")),
    StateRef("MA", 6.8, "NE", ("São Luís", "Imperatriz", "Caxias")),
    StateRef("PB", 4.0, "NE", ("João Pessoa", "Campina Grande", "Santa Rita")),
    StateRef("AM", 3.9, "N", ("Manaus", "Parintins", "Itacoatiara")),
    StateRef("ES", 3.8, "SE", ("Vitória", "Vila Velha", "Serra", "Cariacica")),
    StateRef("MT", 3.7, "CO", ("Cuiabá", "Várzea Grande", "Rondonópolis", "Sinop")),
    StateRef("RN", 3.3, "NE", ("Natal", "Mossoró", "Parnamirim")),
    StateRef("PI", 3.3, "NE", ("Teresina", "Parnaíba", "Picos")),
    StateRef("AL", 3.1, "NE", ("Maceió", "Arapiraca")),
    StateRef("DF", 2.8, "CO", ("Brasília",)),
    StateRef("MS", 2.8, "CO", ("Campo Grande", "Dourados", "Três Lagoas")),
    StateRef("SE", 2.2, "NE", ("Aracaju", "Nossa Senhora do Socorro")),
    StateRef("RO", 1.6, "N", ("Porto Velho", "Ji-Paraná")),
    StateRef("TO", 1.5, "N", ("Palmas", "Araguaína")),
    StateRef("AC", 0.83, "N", ("Rio Branco", "Cruzeiro do Sul")),
    StateRef("AP", 0.73, "N", ("Macapá", "Santana")),
    StateRef("RR", 0.64, "N", ("Boa Vista",)),
)  # fmt: skip

#: Median delivery days and freight multiplier by region (deliveries ship from the Southeast).
REGION_DELIVERY_DAYS: dict[str, float] = {"SE": 6.0, "S": 8.0, "CO": 10.0, "NE": 13.0, "N": 16.0}
REGION_FREIGHT: dict[str, float] = {"SE": 1.0, "S": 1.2, "CO": 1.4, "NE": 1.7, "N": 2.0}

#: Sales channels and their shares.
CHANNELS: tuple[tuple[str, float], ...] = (("web", 0.52), ("app", 0.36), ("marketplace", 0.12))
